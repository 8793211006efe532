"""The Predictor maps keypoints back to the original image exactly, whatever the finder, the
image's EXIF orientation or its downscaling: checked with the fake estimator that reads each
crop's geometry off the image (:mod:`geometry_reading`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handpose.inference.predictor import PLAIN_VIEW, Predictor
from handpose.skeleton import NUM_JOINTS
from handpose.structures import keypoint_box

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


def hand_keypoints(seed: int = 0) -> np.ndarray:
    """21 points in a 60-pixel patch well inside the 200 x 160 coordinate image."""
    rng = np.random.default_rng(seed)
    centre = np.array([IMAGE_WIDTH / 2 + 5, IMAGE_HEIGHT / 2 - 4])
    return centre + rng.uniform(-30, 30, (NUM_JOINTS, 2))


def predictor_for(truth: np.ndarray, **kwargs) -> Predictor:
    """A Predictor over the fake estimator; its finder the whole image unless ``kwargs`` say else
    (``auto`` would take the bundled detector, whose boxes the fake estimator knows nothing of), with
    one view of each crop (the fake decodes exactly only inside its crop, and the default views turn
    the crop's corners over joints near them; test_predictor_tta.py has the views)."""
    kwargs.setdefault("finder", "whole_image")
    kwargs.setdefault("tta_rotations", PLAIN_VIEW)
    return Predictor(estimator=GeometryReadingEstimator(truth[None], padding=1.5), **kwargs)


def test_boxes_map_back_exactly_and_take_the_side_given():
    truth = hand_keypoints()
    predictor = predictor_for(truth)
    (found,) = predictor(coordinate_image(0), boxes=[keypoint_box(truth)])
    assert np.abs(found.keypoints - truth).max() < 0.1
    assert found.finder == "boxes" and found.hand_side in ("left", "right") and found.hand_score == pytest.approx(0.5)
    (left,) = predictor(coordinate_image(0), boxes=[keypoint_box(truth)], sides=["left"])
    assert np.abs(left.keypoints - truth).max() < 0.1
    assert left.hand_side == "left" and predictor.estimator.mirrored == {0: True}


def test_the_whole_image_finder_maps_back_exactly_after_its_refining_pass():
    truth = hand_keypoints(1)
    (found,) = predictor_for(truth)(coordinate_image(0))
    assert found.finder == "whole_image"
    assert np.abs(found.keypoints - truth).max() < 0.1
    x0, y0, x1, y1 = found.box
    assert (x0, y0) == pytest.approx(tuple(truth.min(axis=0)), abs=0.1)
    assert (x1, y1) == pytest.approx(tuple(truth.max(axis=0)), abs=0.1)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_files_give_keypoints_in_upright_pixels(tmp_path: Path, orientation: int):
    truth = hand_keypoints(2)
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.png"
    Image.fromarray(coordinate_image(0)).transpose(turn).save(path, exif=exif)
    (found,) = predictor_for(truth)(path)
    assert np.abs(found.keypoints - truth).max() < 0.1


def test_crops_that_would_shrink_the_image_much_are_cut_from_a_smaller_copy_and_map_back_exactly(monkeypatch):
    import handpose.inference.predictor as predictor_module

    factors = []
    original = predictor_module._downscaled
    monkeypatch.setattr(predictor_module, "_downscaled", lambda image, f: (factors.append(f), original(image, f))[1])
    truth = hand_keypoints(3)
    predictor = predictor_for(truth)
    (found,) = predictor(coordinate_image(0))  # the whole 200-px image into a 64-px crop: from a 128-px copy
    assert np.abs(found.keypoints - truth).max() < 0.1
    (boxed,) = predictor(coordinate_image(0), boxes=[keypoint_box(truth)])
    assert np.abs(boxed.keypoints - truth).max() < 0.1
    assert any(f > 1.0 for f in factors) and 1.0 in factors  # the smaller copy was used, and the original


def test_bad_images_and_arguments_are_clear_errors():
    truth = hand_keypoints()
    predictor = predictor_for(truth)
    with pytest.raises(ValueError, match="RGB uint8"):
        predictor(np.zeros((50, 50), dtype=np.uint8))
    with pytest.raises(ValueError, match="one per box"):
        predictor(coordinate_image(0), boxes=[keypoint_box(truth)], sides=["left", "right"])


def test_3d_is_placed_in_the_camera_frame_where_the_camera_is_known():
    from dataclasses import replace as replaced

    from handpose.geometry.camera import project
    from handpose.geometry.fit_3d import intrinsics_from_focal, mean_right_hand

    K = intrinsics_from_focal(IMAGE_WIDTH, IMAGE_HEIGHT, 300.0)
    truth_3d = mean_right_hand() + np.array([10.0, -70.0, 560.0])  # projects well inside the 200 x 160 image
    truth_2d = project(truth_3d, K)

    class WithShape(GeometryReadingEstimator):
        """Answers the 2D through the image, and the true root-relative 3D shape."""

        def predict(self, *args, **kwargs):
            return [replaced(p, keypoints_3d=truth_3d - truth_3d[0]) for p in super().predict(*args, **kwargs)]

    predictor = Predictor(estimator=WithShape(truth_2d[None]), focal_px=300.0, finder="whole_image")
    (found,) = predictor(coordinate_image(0))
    # A 1.25x area-averaged copy rounds the coordinate colours: 2D within 0.25 px here.
    assert np.abs(found.keypoints - truth_2d).max() < 0.25
    assert np.abs(found.keypoints_3d_camera - truth_3d).max() < 2.0  # mm, from 0.1-px 2D at half a metre
    (without,) = Predictor(estimator=WithShape(truth_2d[None]), finder="whole_image")(coordinate_image(0))
    assert without.keypoints_3d_camera is None
    (given,) = Predictor(estimator=WithShape(truth_2d[None]), finder="whole_image")(coordinate_image(0), K=K)
    assert np.abs(given.keypoints_3d_camera - truth_3d).max() < 2.0


def test_the_camera_frame_3d_is_the_re_anchored_3d_at_the_hand_size_and_the_fit_only_a_fallback():
    """With a known camera, ``keypoints_3d_camera`` is the re-anchored hand (anchor_prediction's
    root-relative 3D) placed on its keypoints' rays, at the mean hand's size: what fitting that
    shape into the camera frame gives. A shape with no lift keeps its own 3D, fitted."""
    from dataclasses import replace as replaced

    from handpose.geometry.camera import project
    from handpose.geometry.fit_3d import (
        fit_camera_frame,
        hand_size,
        intrinsics_from_focal,
        mean_hand_size,
        mean_right_hand,
    )
    from handpose.geometry.lift_25d import anchor_prediction

    K = intrinsics_from_focal(IMAGE_WIDTH, IMAGE_HEIGHT, 300.0)
    truth_3d = mean_right_hand() + np.array([10.0, -70.0, 560.0])
    truth_2d = project(truth_3d, K)
    # A wrong shape: the lift turns it onto the 2D, and its bones do not all keep their lengths.
    shape = (truth_3d - truth_3d[0]) * np.linspace(0.8, 1.3, NUM_JOINTS)[:, None]
    shape[:, 2] += np.linspace(0.0, 25.0, NUM_JOINTS)

    class WithShape(GeometryReadingEstimator):
        def predict(self, *args, **kwargs):
            return [replaced(p, keypoints_3d=self.shape) for p in super().predict(*args, **kwargs)]

    estimator = WithShape(truth_2d[None])
    estimator.shape = shape
    (found,) = Predictor(estimator=estimator, finder="whole_image")(coordinate_image(0), K=K)
    raw = replaced(found, keypoints_3d=shape, keypoints_3d_camera=None)
    assert np.array_equal(found.keypoints_3d, anchor_prediction(raw, K).keypoints_3d)
    camera = found.keypoints_3d_camera
    assert hand_size(camera) == pytest.approx(mean_hand_size(), rel=1e-9)
    assert abs(hand_size(found.keypoints_3d) / mean_hand_size() - 1.0) > 0.01  # so the scaling is tested
    scaled = (camera - camera[0]) * (hand_size(found.keypoints_3d) / mean_hand_size())
    assert np.abs(scaled - found.keypoints_3d).max() < 1e-9  # the same hand, root-relative
    assert np.abs(project(camera, K) - found.keypoints).max() < 1e-9  # on the keypoints' rays
    refit = fit_camera_frame(found.keypoints, found.keypoints_3d, K, size_mm=mean_hand_size()).keypoints_3d
    assert np.abs(camera - refit).max() < 1e-6  # what the former second fit gave

    (larger,) = Predictor(estimator=estimator, finder="whole_image", hand_size_mm=100.0)(coordinate_image(0), K=K)
    assert hand_size(larger.keypoints_3d_camera) == pytest.approx(100.0, rel=1e-9)
    assert np.abs(project(larger.keypoints_3d_camera, K) - found.keypoints).max() < 1e-9  # farther, on the same rays
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="hand size"):
            Predictor(estimator=estimator, finder="whole_image", hand_size_mm=bad)

    behind = shape.copy()
    behind[12, 2] -= 650.0  # a fingertip far nearer than the wrist: no lift, but a fit of the shape
    estimator.shape = behind
    (kept,) = Predictor(estimator=estimator, finder="whole_image")(coordinate_image(0), K=K)
    assert np.array_equal(kept.keypoints_3d, behind)
    expected = fit_camera_frame(kept.keypoints, behind, K, size_mm=mean_hand_size()).keypoints_3d
    assert np.abs(kept.keypoints_3d_camera - expected).max() < 1e-9
    behind[12, 2] -= 2000.0  # nor a fit: no camera-frame 3D
    (unplaced,) = Predictor(estimator=estimator, finder="whole_image")(coordinate_image(0), K=K)
    assert np.array_equal(unplaced.keypoints_3d, behind) and unplaced.keypoints_3d_camera is None


def test_a_detector_gives_every_hand_its_box_and_its_side_where_surer_than_the_network():
    from handpose.estimators.hand_detector import HandBox

    truth = hand_keypoints(4)

    class FakeDetector:
        name = "fake_detector"

        def __init__(self, side_score: float) -> None:
            self.side_score = side_score

        def detect(self, images):
            return [[HandBox(keypoint_box(truth), 0.9, "left", self.side_score)] for _ in images]

    # The fake network is as sure of either orientation (a share of 0.5): a surer detector's side wins.
    (found,) = Predictor(
        estimator=GeometryReadingEstimator(truth[None]), detector=FakeDetector(0.8), finder="detector"
    )(coordinate_image(0))
    assert found.finder == "detector" and found.hand_side == "left" and found.hand_score == 0.8
    assert np.abs(found.keypoints - truth).max() < 0.1
    (unsure,) = Predictor(
        estimator=GeometryReadingEstimator(truth[None]), detector=FakeDetector(0.5), finder="detector"
    )(coordinate_image(0))
    assert unsure.hand_side == "right" and unsure.hand_score == pytest.approx(0.5)  # the network's pick
    with pytest.raises(ValueError, match="not a hand detector"):
        Predictor(estimator=GeometryReadingEstimator(truth[None]), detector=GeometryReadingEstimator(truth[None]))


def test_the_finder_is_the_detector_where_its_weights_are_there_else_the_whole_image(monkeypatch, tmp_path):
    import handpose.inference.predictor as predictor_module
    from handpose.cli.eval import FINDERS as EVAL_CHOICES
    from handpose.cli.predict import FINDERS as PREDICT_CHOICES
    from handpose.evaluation.evaluate import FINDERS as EVAL_FINDERS

    assert PREDICT_CHOICES == predictor_module.FINDERS and EVAL_CHOICES == EVAL_FINDERS  # the CLIs name them all
    truth = hand_keypoints(5)
    monkeypatch.setitem(predictor_module.FINDER_WEIGHTS, "detector", str(tmp_path / "no_detector.pt"))
    assert predictor_for(truth, finder="auto").finder == "whole_image"

    class NoHands:
        name = "no_hands"

        def detect(self, images):
            return [[] for _ in images]

    assert predictor_for(truth, finder="detector", detector=NoHands())(coordinate_image(0)) == []
    given = predictor_for(truth, finder="auto", detector=NoHands())
    (close_up,) = given(coordinate_image(0))  # found nothing: the whole image, confident enough
    assert given.finder == "auto" and close_up.finder == "whole_image"
    assert np.abs(close_up.keypoints - truth).max() < 0.1
    monkeypatch.setattr(predictor_module, "CLOSE_UP_MIN_SCORE", close_up.score + 0.01)
    assert given(coordinate_image(0)) == []
    with pytest.raises(ValueError, match="unknown finder"):
        predictor_for(truth, finder="palm")


def test_auto_reads_the_whole_image_as_a_close_up_first_and_asks_the_detector_where_unsure(monkeypatch):
    import handpose.inference.predictor as predictor_module
    from handpose.estimators.hand_detector import HandBox

    truth = hand_keypoints(6)
    elsewhere = truth * 0.3 + 5.0  # a smaller hand in the top-left corner

    class OneHand:
        name = "one_hand"

        def detect(self, images):
            return [[HandBox(keypoint_box(elsewhere), 0.9, "right", 0.5)] for _ in images]

    given = predictor_for(truth, finder="auto", detector=OneHand())
    (close_up,) = given(coordinate_image(0))
    assert close_up.finder == "whole_image"  # sure enough: the detector's hand is not asked for
    monkeypatch.setattr(predictor_module, "CLOSE_UP_MIN_SCORE", close_up.score + 0.01)
    (detected,) = given(coordinate_image(0))
    assert detected.finder == "detector"
