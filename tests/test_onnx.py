"""ONNX export and the onnxruntime backend: the graph gives torch's heatmaps, the keypoints through
the crop and decode path agree with torch's within 0.5 px (issue 11), ``handpose export --onnx``
writes a loadable file, and every problem is a one-line error naming the file. Tiny untrained
estimators: agreement between the backends is the point, not accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx

from handpose.cli.main import main
from handpose.estimators import Estimator, HeatmapEstimator, NSRMEstimator
from handpose.geometry.crop import CropBox, crop_affine, crop_image
from handpose.inference.onnx_backend import (
    ESTIMATOR_KEY,
    METADATA_KEY,
    OnnxEstimator,
    export_onnx,
    load_onnx_estimator,
)
from handpose.inference.weights import WeightsError, save_weights
from handpose.structures import HandPrediction

INPUT_SIZE = 64


def tiny_heatmap_estimator() -> HeatmapEstimator:
    network = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}
    return HeatmapEstimator(network, {"input_size": INPUT_SIZE})


def tiny_mix_style_estimator() -> HeatmapEstimator:
    """MixStyle acts only while training: the exported graph is the plain network's."""
    network = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16, "mix_style": 0.5}
    return HeatmapEstimator(network, {"input_size": INPUT_SIZE})


def tiny_nsrm_estimator() -> NSRMEstimator:
    network = {"name": "nsrm", "width_mult": 0.125, "num_mask_stages": 1, "num_keypoint_stages": 2}
    return NSRMEstimator(network, {"input_size": INPUT_SIZE})


ESTIMATORS = {
    "heatmap_2d": tiny_heatmap_estimator,
    "heatmap_2d_mix_style": tiny_mix_style_estimator,
    "nsrm": tiny_nsrm_estimator,
}


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def exported(request, tmp_path_factory) -> tuple[Estimator, OnnxEstimator, Path]:
    """A tiny estimator with peaked heatmaps (the untrained head's are nearly flat, where any
    rounding could move an argmax), its ONNX file and that file loaded on one thread."""
    torch.manual_seed(0)
    estimator = ESTIMATORS[request.param]()
    with torch.no_grad():
        for parameter in estimator.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    estimator.eval()
    path = export_onnx(estimator, tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx")
    return estimator, load_onnx_estimator(path, threads=1), path


def test_the_graph_outputs_what_predict_reads_and_torchs_heatmaps(exported, seeded_one_thread_torch):
    estimator, backend, _ = exported
    assert backend.output_names == ["heatmaps"]  # NSRM's stage lists and limb masks stay out
    assert (backend.name, backend.crop, backend.spec()) == (estimator.name, estimator.crop, estimator.spec())
    images = torch.randn(3, 3, INPUT_SIZE, INPUT_SIZE)  # a batch other than the exported one: the axis is dynamic
    with torch.no_grad():
        expected = estimator(images)["heatmaps"]
    got = backend(images)["heatmaps"]
    assert got.shape == expected.shape
    assert torch.abs(got - expected).max().item() < 1e-4


def predict_in_boxes(
    estimator: Estimator | OnnxEstimator, image: np.ndarray, boxes: list[CropBox]
) -> list[HandPrediction]:
    """Crop, normalise, run, decode and map back: the steps of estimate_in_boxes, on one image."""
    crops = np.stack([crop_image(image, box, INPUT_SIZE) for box in boxes])
    with torch.no_grad():
        outputs = estimator(estimator.crop.normalize(crops))
    affines = np.stack([crop_affine(box, INPUT_SIZE) for box in boxes])
    return estimator.predict(outputs, affines, np.array([box.flip for box in boxes]), finder="boxes")


def test_keypoints_through_the_crop_and_decode_path_match_torchs_within_half_a_pixel(exported, seeded_one_thread_torch):
    estimator, backend, _ = exported
    rng = np.random.default_rng(0)
    for _ in range(3):
        image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        boxes = [
            CropBox(center=(80.0, 60.0), size=100.0),
            CropBox(center=(70.0, 50.0), size=60.0, rotation=20.0, flip=True),
            CropBox(center=(150.0, 10.0), size=80.0),  # partly outside the image
        ]
        torch_hands, onnx_hands = predict_in_boxes(estimator, image, boxes), predict_in_boxes(backend, image, boxes)
        for torch_hand, onnx_hand in zip(torch_hands, onnx_hands):
            assert np.abs(onnx_hand.keypoints - torch_hand.keypoints).max() < 0.5
            assert np.abs(onnx_hand.keypoint_scores - torch_hand.keypoint_scores).max() < 1e-4
            assert onnx_hand.hand_side == torch_hand.hand_side


def test_export_restores_training_mode_and_leaves_only_the_file(tmp_path: Path):
    estimator = tiny_heatmap_estimator().train()
    path = export_onnx(estimator, tmp_path / "sub" / "model.onnx", metadata={"note": "test"})
    assert estimator.training
    assert list(path.parent.iterdir()) == [path]
    properties = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert properties[METADATA_KEY] == '{"note": "test"}'


def test_handpose_export_onnx_writes_a_file_the_backend_loads(tmp_path: Path, capsys):
    weights = save_weights(tiny_heatmap_estimator(), tmp_path / "tiny.pt")
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(weights), "--onnx", "--out", str(out)]) == 0
    assert "ONNX opset 17" in capsys.readouterr().out
    backend = load_onnx_estimator(out)
    assert backend.name == "heatmap_2d" and backend.crop.input_size == INPUT_SIZE
    properties = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert properties[METADATA_KEY] == '{"exported_from": "tiny.pt"}'
    assert main(["export", str(tmp_path / "none.ckpt"), "--onnx", "--out", str(tmp_path / "none.onnx")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "none.ckpt" in error
    assert not (tmp_path / "none.onnx").exists()


def without_handpose_metadata(source: Path, target: Path, broken_spec: bool) -> Path:
    """A copy of an export with its estimator spec made unreadable, or with no handpose metadata."""
    model = onnx.load(source)
    properties = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    if broken_spec:
        onnx.helper.set_model_props(model, {**properties, ESTIMATOR_KEY: '{"name": "heatmap_2d"'})
    onnx.save(model, target)
    return target


def test_every_problem_is_one_line_naming_the_file(exported, tmp_path: Path, monkeypatch):
    _, _, path = exported
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx model")
    cases = {
        tmp_path / "missing.onnx": "missing",
        corrupt: "not a readable ONNX model",
        without_handpose_metadata(path, tmp_path / "plain.onnx", broken_spec=False): "without handpose's metadata",
        without_handpose_metadata(path, tmp_path / "broken.onnx", broken_spec=True): "cannot rebuild its estimator",
    }
    for file, reason in cases.items():
        with pytest.raises(WeightsError) as raised:
            load_onnx_estimator(file)
        message = str(raised.value)
        assert message.startswith(str(file)) and reason in message and "\n" not in message
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    with pytest.raises(WeightsError, match=r"install handpose\[onnx\]") as raised:
        load_onnx_estimator(path)
    assert "\n" not in str(raised.value)


def test_estimate_in_boxes_and_the_predictor_take_the_onnx_backend(exported, seeded_one_thread_torch):
    from handpose.inference.crops import estimate_in_boxes
    from handpose.inference.predictor import Predictor

    estimator, backend, _ = exported
    image = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = [CropBox(center=(80.0, 60.0), size=100.0), CropBox(center=(70.0, 50.0), size=60.0, flip=True)]
    for t, o in zip(estimate_in_boxes(estimator, lambda i: image, boxes), estimate_in_boxes(backend, lambda i: image, boxes)):
        assert np.abs(o.keypoints - t.keypoints).max() < 0.5
    for t, o in zip(Predictor(estimator=estimator, finder="whole_image")(image), Predictor(estimator=backend, finder="whole_image")(image)):
        assert np.abs(o.keypoints - t.keypoints).max() < 0.5 and o.hand_side == t.hand_side


def test_the_detector_exports_its_box_maps_and_finds_the_same_hands_on_onnxruntime(
    tmp_path: Path, seeded_one_thread_torch
):
    from handpose.estimators import build_estimator
    from handpose.inference.predictor import Predictor

    network = {"name": "hand_detector_net", "widths": [8, 8, 16, 16, 16], "blocks": [0, 0, 1, 1, 1], "head_channels": 8}
    detector = build_estimator("hand_detector", network=network, codec={"input_size": 64}, crop={"flip_to_right": False})
    with torch.no_grad():
        for parameter in detector.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    path = export_onnx(detector.eval(), tmp_path / "detector.onnx")
    backend = load_onnx_estimator(path, threads=1)
    assert [output.name for output in onnx.load(path).graph.output] == ["heatmap", "offset", "size", "side"]
    images = [np.random.default_rng(seed).integers(0, 256, (90 + 30 * seed, 120, 3), dtype=np.uint8) for seed in range(3)]
    torch_hands, onnx_hands = detector.detect(images, min_score=0.01), backend.detect(images, min_score=0.01)
    assert sum(map(len, torch_hands)) > 0
    for t_image, o_image in zip(torch_hands, onnx_hands):
        assert len(t_image) == len(o_image)
        for t, o in zip(t_image, o_image):
            assert np.abs(o.box - t.box).max() < 0.5 and abs(o.score - t.score) < 1e-3 and o.side == t.side
    pose = tiny_heatmap_estimator()
    predictor = Predictor(estimator=pose, detector=path, finder="detector")
    assert predictor.detector.name == "hand_detector" and hasattr(predictor.detector, "session")
