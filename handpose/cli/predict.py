"""``handpose predict SOURCE``: hands and 21 keypoints each on any photo, folder, glob, video or webcam.

SOURCE is an image file, a folder (its images, subfolders included), a glob pattern
(``'photos/*.jpg'``), a video file, or ``--webcam N``. In videos and webcams the hands are
tracked (the next box from the last keypoints, re-detection when the pose score drops, a stable
``track_id`` per hand) and their keypoints smoothed with a One-Euro filter. Uses the bundled weights unless
``--weights`` names others. Writes DIR/predictions.json: one record per hand (see the README);
``--backend onnx`` runs the network with onnxruntime. ``--save-overlays`` also writes DIR/overlays/<name>.jpg per image, or DIR/<video>_overlay.mp4 for
a video or webcam. A frame that cannot be read is named with the reason and the rest go on; the
exit status is 1 when any failed, 2 for bad arguments or a SOURCE that cannot be used at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: ``--finder``'s choices (handpose.inference.predictor.FINDERS, named here so --help stays fast).
FINDERS = ("auto", "detector", "segmentation", "whole_image")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="find hands and their keypoints in images, folders, videos or a webcam",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("source", nargs="?", help="image, folder, glob pattern or video file")
    parser.add_argument("--webcam", type=int, metavar="N", help="read webcam N instead of a SOURCE (Ctrl-C stops)")
    parser.add_argument("--out", type=Path, default=Path("predictions"), metavar="DIR", help="output folder (default: predictions)")
    parser.add_argument("--weights", default="default", help="bundled weights name, weights file or checkpoint (default: default)")
    parser.add_argument(
        "--boxes", type=Path, metavar="FILE",
        help="COCO-style JSON with hand boxes (images + annotations with bbox, optional hand_type); "
        "frames it lists are cropped at those boxes",
    )
    parser.add_argument(
        "--finder", choices=FINDERS, default="auto",
        help="where hands come from without --boxes: the hand detector, HandSegNet's segmentation, or "
        "the whole image as one hand (auto, the default: the whole image where the pose network is sure "
        "of its hand, else the detector; choose detector for photos of several or small hands)",
    )
    parser.add_argument("--detector", metavar="WEIGHTS", help="the detector or segmentation finder's weights instead of the bundled ones")
    parser.add_argument("--save-overlays", action="store_true", help="draw the predictions on the images or video")
    parser.add_argument("--no-refine", action="store_true", help="whole images: skip the second, tighter pass")
    add_test_time_options(parser)
    parser.add_argument(
        "--no-track", action="store_true",
        help="videos and webcams: find the hands afresh in every frame instead of tracking them",
    )
    parser.add_argument("--no-smooth", action="store_true", help="tracking: no One-Euro smoothing of the keypoints")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames (videos and webcams)")
    parser.add_argument(
        "--backend", choices=("torch", "onnx"), default="torch",
        help="run the network with torch (default) or onnxruntime (pip install handpose[onnx]); "
        "an .onnx --weights file always runs on onnxruntime",
    )
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=float, metavar="DEG", help="3D estimators: the camera's horizontal field of view, for camera-frame 3D")
    camera.add_argument("--focal", type=float, metavar="PX", help="3D estimators: the focal length in pixels, for camera-frame 3D")
    parser.add_argument(
        "--hand-size", type=float, metavar="MM",
        help="3D estimators: the hand's wrist to middle-knuckle length in mm, where known (default: the mean "
        "hand's, about 87); sets the scale of the 3D and the camera-frame distance",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from handpose.inference.sources import SourceError, open_source
    from handpose.inference.weights import WeightsError

    if (args.source is None) == (args.webcam is None):
        print("error: give a SOURCE or --webcam N (one of them)", file=sys.stderr)
        return 2
    try:
        source = open_source(args.source, webcam=args.webcam)
        boxes = read_boxes(args.boxes) if args.boxes is not None else {}
        from handpose.inference.predictor import PLAIN_VIEW, Predictor

        options = test_time_options(args)
        if source.is_stream:  # every frame would pay the views' time (Predictor's docstring)
            options.setdefault("tta_rotations", PLAIN_VIEW)
        predictor = Predictor(
            args.weights, device=args.device, refine=not args.no_refine, backend=args.backend,
            fov_degrees=args.fov, focal_px=args.focal, hand_size_mm=args.hand_size, detector=args.detector,
            finder=args.finder, **options,
        )
    except (SourceError, WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if source.is_stream and not args.no_track:
        from handpose.inference.smoothing import OneEuroParams
        from handpose.inference.tracking import HandTracker

        tracker = HandTracker(predictor, smoothing=None if args.no_smooth else OneEuroParams(), frame_rate=source.fps or 30.0)
        frame_rate = source.fps or 30.0

        def predict(image: Any, frame_index: int | None = None, **_: Any) -> list:
            return tracker(image, timestamp=None if frame_index is None else frame_index / frame_rate)
    else:

        def predict(image: Any, frame_index: int | None = None, **kwargs: Any) -> list:
            return predictor(image, **kwargs)

    return run_predictions(predict, source, boxes, args.out, args.save_overlays, args.max_frames)


def run_predictions(
    predict: Any, source: Any, boxes: dict, out: Path, save_overlays: bool, max_frames: int | None
) -> int:
    """Predict every frame of ``source`` with ``predict(image, frame_index, [boxes, sides])``, write
    predictions.json (and overlays), print a summary."""
    from tqdm import tqdm

    from handpose.image_io import write_bytes_atomic
    from handpose.inference.sources import FrameFailure
    from handpose.structures import SampleError
    from handpose.viz.prediction_overlay import OverlayVideoWriter, draw_predictions, write_overlay_image

    records: list[dict] = []
    failures = frames = 0
    is_stream = source.is_stream
    video = None
    total = source.total if max_frames is None or source.total is None else min(source.total, max_frames)
    progress = tqdm(total=total, unit="frame" if is_stream else "image", disable=source.kind == "image")
    try:
        for frame in source:
            if max_frames is not None and frames >= max_frames:
                break
            progress.update(1)
            frames += 1
            if isinstance(frame, FrameFailure):
                failures += 1
                tqdm.write(f"error: {frame.reason}", file=sys.stderr)
                continue
            listed = boxes.get(frame.name) or boxes.get(Path(frame.name).name)
            try:
                given = {"boxes": listed[0], "sides": listed[1]} if listed else {}
                hands = predict(frame.image, frame_index=frame.frame_index, **given)
            except (SampleError, ValueError) as error:
                failures += 1
                tqdm.write(f"error: {frame.name}: {error}", file=sys.stderr)
                continue
            where = {"file_name": frame.name} if frame.frame_index is None else {"file_name": frame.name, "frame": frame.frame_index}
            records += [{**where, **hand.to_json()} for hand in hands]
            if save_overlays:
                drawn = draw_predictions(frame.image, hands)
                if is_stream:
                    if video is None:
                        height, width = drawn.shape[:2]
                        stem = Path(frame.name).stem.replace(":", "")
                        video = OverlayVideoWriter(out / f"{stem}_overlay.mp4", source.fps or 25.0, (width, height)).__enter__()
                    video.write(drawn)
                else:
                    write_overlay_image((out / "overlays" / frame.name).with_suffix(".jpg"), drawn)
    except KeyboardInterrupt:
        tqdm.write("stopped")
    finally:
        progress.close()
        if video is not None:
            video.__exit__(None, None, None)
    # One record per line: a folder of thousands of images stays readable and diffable.
    lines = ",\n".join("  " + json.dumps(record) for record in records)
    write_bytes_atomic(out / "predictions.json", f"[\n{lines}\n]\n".encode())
    skipped = len(source.skipped)
    print(
        f"{frames - failures} of {frames} {'frames' if is_stream else 'images'} predicted, {len(records)} hands, "
        f"{failures} failed" + (f", {skipped} non-image files skipped" if skipped else "")
    )
    print(f"wrote {out / 'predictions.json'}" + (" and overlays" if save_overlays else ""))
    return 1 if failures else 0


def add_test_time_options(parser: argparse.ArgumentParser) -> None:
    """The Predictor's test-time options as flags (``handpose predict`` and ``handpose eval``)."""
    parser.add_argument(
        "--refine-passes", type=int, default=1, metavar="N",
        help="whole images: tighter passes after the whole-image pass (default 1; a second one scored 0.020 "
        "lower on the held-out real subject: docs/results.md)",
    )
    parser.add_argument(
        "--tta-scales", type=_float_list, default=(1.0,), metavar="LIST",
        help="test-time views of each hand's final crop at these scales of its size, e.g. 0.9,1.0 (default 1.0: off)",
    )
    parser.add_argument(
        "--tta-rotations", type=_float_list, default=None, metavar="LIST",
        help="test-time views turned by these degrees, written with '=', e.g. --tta-rotations=-25,0,25 "
        "(default for images -40,0,40: +0.013 AUC on the held-out real subject for about 1.5x the time, "
        "docs/results.md; for videos and webcams 0, one view; 0: off)",
    )
    parser.add_argument(
        "--upright", action="store_true",
        help="turn each hand's final crop so that the hand stands upright, as MediaPipe does (boxes and found "
        "hands: twice the crops; docs/results.md, 'Upright crops')",
    )
    parser.add_argument(
        "--spread", type=float, default=None, metavar="S",
        help="spread each hand's 2D keypoints about their mean by S (default: the factor the weights record; the "
        "bundled default's 1.04, as it draws real hands about 4%% small; 1: the network's own keypoints)",
    )
    parser.add_argument(
        "--tta-combine", choices=("best", "mean"), default="best",
        help="how the test-time views combine: the view of the highest pose score (best, the default) or "
        "the per-joint score-weighted mean of their keypoints (mean)",
    )


def test_time_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Predictor's keyword arguments of :func:`add_test_time_options`' flags."""
    return {
        "refine_passes": args.refine_passes,
        "tta_scales": args.tta_scales,
        "tta_combine": args.tta_combine,
        "upright": args.upright,
        **({} if args.tta_rotations is None else {"tta_rotations": args.tta_rotations}),
        **({} if args.spread is None else {"keypoint_spread": args.spread}),
    }


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.9,1.0, got {text!r}") from None
    return values


def read_boxes(path: Path) -> dict[str, tuple[list[list[float]], list[str | None]]]:
    """file_name -> (boxes x0, y0, x1, y1, sides) from a COCO-style JSON of hand boxes."""
    try:
        coco = json.loads(path.read_text())
        names = {image["id"]: image["file_name"] for image in coco["images"]}
        found: dict[str, tuple[list[list[float]], list[str | None]]] = {}
        for annotation in coco["annotations"]:
            x, y, w, h = (float(v) for v in annotation["bbox"])
            boxes, sides = found.setdefault(names[annotation["image_id"]], ([], []))
            boxes.append([x, y, x + w, y + h])
            sides.append(annotation.get("hand_type"))
    except FileNotFoundError:
        raise ValueError(f"{path}: boxes file is missing") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a COCO-style file of hand boxes ({type(error).__name__}: {error})") from None
    for name, (_, sides) in found.items():
        if any(side not in ("left", "right", None) for side in sides):
            raise ValueError(f"{path}: image {name}: hand_type must be 'left' or 'right'")
    return found
