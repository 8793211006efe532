"""ONNX export of an estimator's network, and running it with onnxruntime behind the estimator's
inference interface.

Only the network goes into the graph: image tensor ``images`` (B, 3, S, S), normalised as the
estimator's :class:`~handpose.estimators.CropSpec` says, to the outputs its ``decode`` and
``predict`` read (for the heatmap estimators, NSRM included, ``heatmaps`` (B, 21, h, w); NSRM's
per-stage lists and limb masks are training outputs and stay out), or for the hand detector those
its box decoding reads (centre heatmap, offset, size and side maps). Decoding stays outside the
graph, in numpy, so that both backends share one implementation and give the same keypoints and
boxes: :class:`OnnxEstimator` rebuilds the torch estimator from the spec stored in the model (no
weights needed) and uses its ``decode`` and ``predict``; :class:`OnnxDetector`, its ``detect``.

The model's ``metadata_props`` make the file self-describing, as a weights file is
(:mod:`handpose.inference.weights`)::

    handpose.format          "handpose-onnx"
    handpose.format_version  "1"
    handpose.estimator       JSON {"name": ..., "kwargs": ...}    rebuilds the codec and crop
    handpose.crop            JSON {"input_size", "padding", "flip_to_right", "mean", "std"}
    handpose.metadata        JSON, where it came from (free-form)

``handpose.crop`` repeats what the spec implies so that a runtime without handpose can cut and
normalise crops. Needs the ``onnx`` extra (``pip install 'handpose[onnx]'``): ``onnx`` to export
(torch's exporter uses it, and it writes the metadata) and ``onnxruntime`` to run; both are
imported only when used, so the core install runs without them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from handpose.estimators import CropSpec, Estimator, build_estimator
from handpose.image_io import open_atomic
from handpose.inference.weights import WeightsError, keypoint_spread_of, with_keypoint_spread
from handpose.structures import HandPrediction

ONNX_FORMAT = "handpose-onnx"
ONNX_FORMAT_VERSION = 1
#: Opset 17, read by onnxruntime since 1.13: the networks need nothing newer than opset 11
#: (convolutions, pooling, Concat, Clip, and Resize for the U-Net's upsampling), and 17 is old
#: enough for the runtimes of recent years while keeping the exporter's newer op versions.
ONNX_OPSET = 17
INPUT_NAME = "images"
FORMAT_KEY, VERSION_KEY = "handpose.format", "handpose.format_version"
ESTIMATOR_KEY, CROP_KEY, METADATA_KEY = "handpose.estimator", "handpose.crop", "handpose.metadata"
INSTALL_HINT = "install handpose[onnx] (pip install 'handpose[onnx]')"


def export_onnx(estimator: Estimator, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``estimator``'s network as an ONNX model with a dynamic batch axis (atomically);
    returns the path.

    The graph's outputs are those ``estimator.predict`` reads, found by decoding one forward pass
    (:func:`inference_outputs`). The estimator's train/eval mode is restored afterwards.
    """
    path = Path(path)
    try:
        import onnx
    except ImportError:
        raise WeightsError(f"{path}: writing ONNX needs the onnx package; {INSTALL_HINT}") from None
    was_training = estimator.training
    estimator.eval()
    try:
        size = estimator.crop.input_size
        # Batch 2: a traced batch of 1 could be taken for a constant by a shape-dependent op.
        example = torch.zeros(2, 3, size, size, device=next(estimator.parameters()).device)
        names = inference_outputs(estimator, example)
        graph = io.BytesIO()
        # The TorchScript-based exporter (dynamo=False) needs no onnxscript; torch's newer exporter
        # does. It is deprecated: where a torch release drops it, switch to dynamo=True and add
        # onnxscript to the onnx extra.
        torch.onnx.export(
            _NamedOutputs(estimator, names).eval(),
            (example,),
            graph,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]},
        )
    finally:
        estimator.train(was_training)
    model = onnx.load_from_string(graph.getvalue())
    properties = {
        FORMAT_KEY: ONNX_FORMAT,
        VERSION_KEY: str(ONNX_FORMAT_VERSION),
        ESTIMATOR_KEY: json.dumps(estimator.spec()),
        CROP_KEY: json.dumps(asdict(estimator.crop)),
        # The real-photo spread travels with the network, so that onnxruntime predicts as torch does.
        METADATA_KEY: json.dumps(with_keypoint_spread(metadata, estimator.keypoint_spread)),
    }
    onnx.helper.set_model_props(model, properties)
    onnx.checker.check_model(model)
    with open_atomic(path, durable=True) as f:
        f.write(model.SerializeToString())
    return path


def inference_outputs(estimator: Estimator, images: torch.Tensor) -> list[str]:
    """The names of the outputs ``estimator.predict`` reads (through ``decode`` and any further
    decoding, such as a 3D estimator's bones), or a detector's box decoding (``decode_boxes``), in
    first-read order, from a forward pass on ``images``; each must be a tensor (an ONNX graph
    outputs tensors only)."""
    with torch.no_grad():
        outputs = _ReadKeys(estimator(images))
    if hasattr(estimator, "decode_boxes"):
        estimator.decode_boxes(outputs)
    else:
        identity = np.tile(np.eye(2, 3), (len(images), 1, 1))
        estimator.predict(outputs, identity, np.zeros(len(images), dtype=bool))
    for name in outputs.read:
        if not isinstance(outputs[name], torch.Tensor):
            kind = type(outputs[name]).__name__
            raise TypeError(f"{estimator.name}.predict reads outputs[{name!r}], a {kind}: ONNX graphs output tensors")
    if not outputs.read:
        raise ValueError(f"{estimator.name}.predict reads none of the network's outputs")
    return outputs.read


class OnnxEstimator:
    """An exported estimator run by onnxruntime, with the torch estimator's inference interface:
    ``estimator(images)`` gives a dict of output tensors, and :meth:`decode`, :meth:`predict`,
    :attr:`crop`, :attr:`name`, :attr:`reads_side` and :attr:`keypoint_spread` are the rebuilt torch
    estimator's.

    ``decoder`` is that estimator, built from the stored spec without weights: only its codec and
    crop are used, never its network. There is nothing to train: :meth:`eval` changes nothing and
    :meth:`parameters` is empty (the weights live in the graph; inputs go in from the CPU).
    """

    def __init__(self, session: Any, decoder: Estimator) -> None:
        self.session = session
        self.decoder = decoder
        self.output_names: list[str] = [output.name for output in session.get_outputs()]

    @property
    def name(self) -> str:
        return self.decoder.name

    @property
    def crop(self) -> CropSpec:
        return self.decoder.crop

    @property
    def reads_side(self) -> bool:
        return self.decoder.reads_side

    @property
    def keypoint_spread(self) -> float:
        return self.decoder.keypoint_spread

    def spec(self) -> dict[str, Any]:
        return self.decoder.spec()

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Output name -> tensor (CPU) for normalised images (B, 3, S, S)."""
        feed = {INPUT_NAME: np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())}
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, self.session.run(None, feed))}

    def decode(self, outputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return self.decoder.decode(outputs)

    def predict(
        self,
        outputs: dict[str, Any],
        affines: np.ndarray,
        flipped: np.ndarray,
        finder: str = "",
        hand_scores: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        return self.decoder.predict(outputs, affines, flipped, finder, hand_scores)

    def eval(self) -> OnnxEstimator:
        return self

    def parameters(self) -> Iterator[torch.Tensor]:
        return iter(())


class OnnxDetector(OnnxEstimator):
    """An exported hand detector: :meth:`detect` is the rebuilt torch detector's (letterbox warp,
    box decoding, NMS), with onnxruntime's session as its network."""

    def detect(self, images: Sequence[np.ndarray], min_score: float | None = None, batch_size: int = 16) -> list:
        return self.decoder.detect(images, min_score, batch_size, network=self)


def load_onnx_estimator(path: str | Path, threads: int | None = None) -> OnnxEstimator:
    """The estimator in a handpose ONNX file (an :class:`OnnxDetector` for the hand detector), on onnxruntime's CPU provider with ``threads``
    intra-op threads (None: onnxruntime's default, one per physical core). Every problem is a
    one-line :class:`WeightsError` naming the file."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    path = Path(path)
    try:
        import onnxruntime
    except ImportError:
        raise WeightsError(f"{path}: running ONNX models needs onnxruntime; {INSTALL_HINT}") from None
    if not path.is_file():
        raise WeightsError(f"{path}: ONNX file is missing")
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) subclass Exception alone
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path}: not a readable ONNX model ({reason})") from None
    properties = session.get_modelmeta().custom_metadata_map
    if properties.get(FORMAT_KEY) != ONNX_FORMAT:
        raise WeightsError(f"{path}: an ONNX model without handpose's metadata (export it with handpose export --onnx)")
    version = properties.get(VERSION_KEY)
    if version != str(ONNX_FORMAT_VERSION):
        raise WeightsError(
            f"{path}: handpose ONNX format version {version!r}; this handpose reads {ONNX_FORMAT_VERSION}"
        )
    try:
        spec, crop_json = json.loads(properties[ESTIMATOR_KEY]), json.loads(properties[CROP_KEY])
        decoder = build_estimator(spec["name"], **spec["kwargs"])
        crop = CropSpec(**{key: tuple(value) if isinstance(value, list) else value for key, value in crop_json.items()})
    except (KeyError, TypeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise WeightsError(f"{path}: cannot rebuild its estimator from the metadata ({error})") from None
    if crop != decoder.crop:
        raise WeightsError(f"{path}: its crop metadata {crop} disagrees with its estimator's {decoder.crop}")
    try:
        decoder.keypoint_spread = keypoint_spread_of(json.loads(properties.get(METADATA_KEY) or "{}"))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{path}: unreadable keypoint_spread in its metadata ({error})") from None
    return (OnnxDetector if hasattr(decoder, "decode_boxes") else OnnxEstimator)(session, decoder.eval())


class _NamedOutputs(nn.Module):
    """The estimator's forward reduced to the named outputs, as a tuple: an ONNX graph returns
    tensors, not a dict."""

    def __init__(self, estimator: Estimator, names: list[str]) -> None:
        super().__init__()
        self.estimator = estimator
        self.names = names

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.estimator(images)
        return tuple(outputs[name] for name in self.names)


class _ReadKeys(dict):
    """Network outputs that record which keys are read (``[]`` or ``get``), in first-read order."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        super().__init__(outputs)
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def _note(self, key: str) -> None:
        if key in self and key not in self.read:
            self.read.append(key)
