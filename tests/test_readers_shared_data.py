"""The data beside the project: the real set and the format samples of six public datasets.

Skipped cleanly where ../shared/data is absent (a user's clone)."""

from pathlib import Path

import numpy as np
import pytest

from handpose.data.readers import read_dataset
from handpose.geometry.camera import project
from handpose.skeleton import FINGERS, bone_lengths

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = DATA / "coco_style_samples"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")

#: Which reader reads which sample set: (format, annotation path, options, samples expected).
SAMPLE_SETS = {
    "rhd": ("coco", "rhd/test_rhd.json", {"joint_order": "rhd_hand"}, 3),
    "freihand": ("coco", "freihand/test_freihand.json", {}, 8),
    "onehand10k": ("coco", "onehand10k/test_onehand10k.json", {}, 4),
    "panoptic": ("coco", "panoptic/test_panoptic.json", {}, 4),
    "interhand2.6m": ("interhand", "interhand2.6m/test_interhand2.6m_data.json", {}, 6),
    "coco_wholebody": ("coco_wholebody", "coco_wholebody/test_coco_wholebody.json", {}, 10),
}


def test_real_set_reads_944_good_samples():
    result = read_dataset("coco", DATA / "real" / "uci_hand" / "annotations.json")
    assert len(result.samples) == 944 and not result.skipped
    assert {s.hand_side for s in result.samples} == {"left", "right"}
    assert {s.extras["subject"] for s in result.samples} == {"001", "040"}
    assert len({s.extras["sequence"] for s in result.samples}) == 36


@pytest.mark.parametrize("name", sorted(SAMPLE_SETS))
def test_every_format_sample_reads_without_error(name):
    fmt, relative, options, count = SAMPLE_SETS[name]
    result = read_dataset(fmt, SAMPLES / relative, **options)
    assert len(result.samples) == count and not result.skipped
    for sample in result.samples:
        assert Path(sample.image).is_file()


def _proximal_longer_than_distal(keypoints_3d):
    """Whether, in index to pinky, the proximal phalanx (MCP-PIP) is longer than the distal (DIP-tip)."""
    lengths = bone_lengths(keypoints_3d)  # bone j-1 ends at joint j
    return [lengths[FINGERS[f][1] - 1] > lengths[FINGERS[f][3] - 1] for f in ("index", "middle", "ring", "pinky")]


def test_rhd_sample_needs_its_tip_to_palm_order():
    """In the right order the 2D labels are the projection of the 3D ones and every finger's
    phalanges shorten towards the tip; read as if canonical, they would lengthen."""
    right = read_dataset("coco", SAMPLES / "rhd/test_rhd.json", joint_order="rhd_hand").samples
    wrong = read_dataset("coco", SAMPLES / "rhd/test_rhd.json").samples
    for good, bad in zip(right, wrong):
        np.testing.assert_allclose(project(good.keypoints_3d, good.K), good.keypoints_2d, atol=1.5)
        assert all(_proximal_longer_than_distal(good.keypoints_3d)), good.sample_id
        assert not any(_proximal_longer_than_distal(bad.keypoints_3d)), bad.sample_id


def test_interhand_sample_projects_inside_its_boxes():
    import json

    data = json.loads((SAMPLES / "interhand2.6m/test_interhand2.6m_data.json").read_text())
    boxes = {ann["image_id"]: ann["bbox"] for ann in data["annotations"]}
    for sample in read_dataset("interhand", SAMPLES / "interhand2.6m/test_interhand2.6m_data.json").samples:
        x, y, w, h = boxes[sample.extras["image_id"]]
        labelled = sample.keypoints_2d[sample.visibility > 0]
        assert np.all(labelled >= [x, y]) and np.all(labelled <= [x + w, y + h]), sample.sample_id
        wrist_to_middle_mcp = np.linalg.norm(sample.keypoints_3d[9] - sample.keypoints_3d[0])
        assert 60 < wrist_to_middle_mcp < 120, sample.sample_id  # mm: a human palm, so wrist-last order was undone
        assert all(_proximal_longer_than_distal(sample.keypoints_3d)), sample.sample_id
