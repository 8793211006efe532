"""The centre-heatmap box codec and NMS of the hand detector."""

import numpy as np
import pytest
import torch

from handpose.codecs import BoxCenterCodec, box_iou, nms

CODEC = BoxCenterCodec(input_size=256, stride=4)


def decode_targets(maps: dict, **options) -> object:
    batch = {key: torch.from_numpy(value)[None] for key, value in maps.items()}
    return CODEC.decode(batch["heatmap"], batch["offset"], batch["size"], batch["side"], **options)[0]


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boxes from 8 to 200 pixels whose centres lie in distinct cells."""
    boxes, cells = [], set()
    while len(boxes) < n:
        size = rng.uniform(8.0, 200.0, 2)
        centre = rng.uniform(size / 2, 255.0 - size / 2)
        cell = tuple(np.floor((centre + 0.5) / 4).astype(int))
        if cell not in cells:
            cells.add(cell)
            boxes.append(np.concatenate([centre - size / 2, centre + size / 2]))
    return np.array(boxes)


def test_encoding_then_decoding_gives_back_every_box_and_side():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 6)
    sides = ["left", "right", "left", "right", "right", "left"]
    found = decode_targets(CODEC.encode(boxes, sides), min_score=0.99, nms_iou=1.0)
    assert len(found) == 6 and np.all(found.scores == 1.0)
    order = [int(np.argmin(np.abs(boxes - box).sum(axis=1))) for box in found.boxes]
    assert sorted(order) == list(range(6))
    np.testing.assert_allclose(found.boxes, boxes[order], atol=1e-3)
    assert [("right" if p == 1.0 else "left") for p in found.right] == [sides[i] for i in order]


def test_maps_mark_the_centre_cells_and_the_known_sides():
    boxes = np.array([[10.0, 10.0, 50.0, 30.0], [100.0, 120.0, 180.0, 240.0]])
    maps = CODEC.encode(boxes, ["right", None])
    assert {key: value.shape for key, value in maps.items()} == {
        "heatmap": (1, 64, 64), "offset": (2, 64, 64), "size": (2, 64, 64),
        "side": (1, 64, 64), "mask": (1, 64, 64), "side_mask": (1, 64, 64),
    }
    assert maps["mask"].sum() == 2 and maps["side_mask"].sum() == 1
    assert np.array_equal(maps["heatmap"] == 1.0, maps["mask"] == 1.0)  # exactly 1 at the centres only
    # The first box's centre (30, 20) lies at cell coordinates (30.5 / 4 - 0.5, 20.5 / 4 - 0.5)
    # = (7.125, 4.625): in cell x 7, y 5.
    assert maps["mask"][0, 5, 7] == 1 and maps["side"][0, 5, 7] == 1
    np.testing.assert_allclose(maps["offset"][:, 5, 7], [0.125, -0.375])
    np.testing.assert_allclose(np.exp(maps["size"][:, 5, 7]) * 4, [40.0, 20.0], rtol=1e-6)


def test_the_smaller_box_keeps_a_shared_cell_and_outside_centres_are_left_out():
    big, small = [0.0, 0.0, 200.0, 200.0], [90.0, 90.0, 110.0, 110.0]
    maps = CODEC.encode(np.array([small, big]), ["left", "right"])
    assert maps["mask"].sum() == 1
    found = decode_targets(maps, min_score=0.99)
    np.testing.assert_allclose(found.boxes, [small], atol=1e-3)
    assert found.right.tolist() == [0.0]
    assert CODEC.encode(np.array([[300.0, 10.0, 340.0, 50.0]]), ["left"])["mask"].sum() == 0


def test_decoding_keeps_the_best_peaks_above_min_score():
    boxes = random_boxes(np.random.default_rng(1), 8)
    maps = CODEC.encode(boxes, ["left"] * 8)
    heatmap = np.zeros_like(maps["heatmap"])
    for k, (x, y) in enumerate(zip(*np.nonzero(maps["mask"][0])[::-1])):
        heatmap[0, y, x] = 0.2 + 0.1 * k  # peaks 0.2 .. 0.9
    maps["heatmap"] = heatmap
    found = decode_targets(maps, min_score=0.45, max_detections=3, nms_iou=1.0)
    np.testing.assert_allclose(found.scores, [0.9, 0.8, 0.7], atol=1e-6)
    with pytest.raises(ValueError, match="min_score"):
        decode_targets(maps, min_score=0.0)


def test_nms_drops_boxes_overlapping_a_better_one_beyond_the_threshold():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = np.array([0.9, 0.8, 0.95, 0.1])
    assert box_iou(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(1 / 3)
    # Box 2 is the best; box 0 overlaps it by 10/11, box 1 overlaps it by 50/160.
    assert nms(boxes, scores, 0.5).tolist() == [2, 1, 3]
    assert nms(boxes, scores, 0.3).tolist() == [2, 3]
    assert nms(boxes, scores, 0.95).tolist() == [2, 0, 1, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_codec_checks_its_settings_and_boxes():
    with pytest.raises(ValueError, match="multiple of the stride"):
        BoxCenterCodec(250, 4)
    with pytest.raises(ValueError, match="positive width"):
        CODEC.encode(np.array([[10.0, 10.0, 10.0, 20.0]]), ["left"])
    with pytest.raises(ValueError, match="sides"):
        CODEC.encode(np.array([[10.0, 10.0, 20.0, 20.0]]), [])
