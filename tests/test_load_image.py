"""HandSample.load_image refuses a file whose size is not the one its annotation declares: its
keypoints would otherwise be scored against the wrong pixels without any error."""

import json

import cv2
import numpy as np
import pytest

from handpose.data.readers import read_dataset
from handpose.structures import SampleError


def _coco_with_one_image(folder, declared, actual):
    """A COCO json of one hand whose image entry declares ``declared`` (width, height); the PNG
    on disk is ``actual``. Keypoints lie inside the declared picture."""
    width, height = actual
    cv2.imwrite(str(folder / "hand.png"), np.full((height, width, 3), 128, np.uint8))
    keypoints = [[20.0 + 5 * j, 30.0 + 4 * j, 2] for j in range(21)]
    data = {
        "images": [{"id": 1, "file_name": "hand.png", "width": declared[0], "height": declared[1]}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "keypoints": np.ravel(keypoints).tolist()}],
        "categories": [{"id": 1, "name": "hand"}],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_image_smaller_than_declared_raises_naming_file_sample_and_sizes(tmp_path):
    (sample,) = read_dataset("coco", _coco_with_one_image(tmp_path, declared=(256, 256), actual=(1, 1))).samples
    with pytest.raises(SampleError) as raised:
        sample.load_image()
    message = str(raised.value)
    assert str(tmp_path / "hand.png") in message
    assert repr(sample.sample_id) in message
    assert "is 1x1 but its label says 256x256" in message
    assert "\n" not in message


def test_image_of_the_declared_size_loads(tmp_path):
    (sample,) = read_dataset("coco", _coco_with_one_image(tmp_path, declared=(256, 192), actual=(256, 192))).samples
    assert sample.load_image().shape == (192, 256, 3)
