import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.data.spec import DataSpec, DataSpecError, parse_data_spec


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    """A one-image COCO-style hand file whose first two keypoints come in swapped."""
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 40, 3), np.uint8))
    keypoints = [[5.0 + j, 10.0 + j, 2] for j in range(21)]
    keypoints[0], keypoints[1] = keypoints[1], keypoints[0]
    data = {
        "images": [{"id": 7, "file_name": "a.png", "width": 40, "height": 40}],
        "annotations": [{"id": 1, "image_id": 7, "keypoints": keypoints, "bbox": [4, 9, 22, 22]}],
        "categories": [{"id": 1, "name": "hand"}],
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_plain_spec_names_format_and_path(annotations: Path):
    spec = parse_data_spec(f"coco:{annotations}")
    assert spec == DataSpec(fmt="coco", path=annotations)
    assert str(spec) == f"coco:{annotations}"
    samples = spec.read().samples
    assert len(samples) == 1 and samples[0].extras["image_id"] == 7


def test_options_split_into_reader_options_split_and_policy(annotations: Path):
    spec = parse_data_spec(f"coco:{annotations.parent}?policy=skip&visibility=coco&split=annotations")
    assert (spec.fmt, spec.path, spec.split, spec.policy) == ("coco", annotations.parent, "annotations", "skip")
    assert spec.options == {"visibility": "coco"}
    assert parse_data_spec(str(spec)) == spec
    assert len(spec.read().samples) == 1


def test_reader_options_reach_the_reader(annotations: Path):
    plain = parse_data_spec(f"coco:{annotations}").read().samples[0]
    rhd_order = parse_data_spec(f"coco:{annotations}?joint_order=rhd_hand").read().samples[0]
    assert not np.allclose(plain.keypoints_2d, rhd_order.keypoints_2d)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("annotations.json", "not FMT:PATH"),
        ("coco:", "not FMT:PATH"),
        ("nosuchformat:{path}", "unknown format 'nosuchformat'"),
        ("coco:{path}.missing", "does not exist"),
        ("coco:{path}?policy=ignore", "policy must be one of"),
        ("coco:{path}?split=a&split=b", "given twice"),
        ("coco:{path}?joint_order", "key=value"),
    ],
)
def test_bad_specs_are_rejected_with_the_spec_in_the_message(annotations: Path, text: str, message: str):
    text = text.format(path=annotations)
    with pytest.raises(DataSpecError, match=message) as error:
        parse_data_spec(text)
    assert repr(text) in str(error.value)


def test_unknown_reader_option_fails_on_reading(annotations: Path):
    with pytest.raises(ValueError, match="no option"):
        parse_data_spec(f"coco:{annotations}?colour=blue").read()
