"""The hand detector's box figures on a synthetic test split and on the real dev frames.

Figures from :func:`handpose.evaluation.detection.evaluate_detector`: COCO box AP@0.5 and
AP@[.5:.95] (pycocotools), and at the detector's operating threshold recall at IoU 0.5, false
positives per image, left/right accuracy of the hands found and the images in which a hand was
found. The synthetic split is the generator's detection scenes (0-4 hands from 20 px to filling the
frame, skin-coloured distractors, images without hands) with a seed no training set uses; its true
boxes are the annotations' (keypoints and hand pixels). The real dev frames have one hand each and
their true box is that of the labelled keypoints (``gt_boxes="keypoints"``).

Images without a hand, through the whole default pipeline (``handpose predict``'s finder ``auto``:
the whole image as a close-up where its pose score reaches
:data:`~handpose.inference.predictor.CLOSE_UP_MIN_SCORE`, else this detector): the synthetic split's hand-less scenes
and scikit-image's bundled photos that show no person; how many of them get a hand, and from which
finder (``--pose-weights``, the bundled default by default).

    .venv/bin/python benchmarks/bench_detector.py [--weights detector] [--count 500] [--json out.json]

The real frames are scored when ``../shared/data`` is beside the checkout; says so and exits 0 when
the weights are not there.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from handpose.evaluation.detection import evaluate_detector
from handpose.evaluation.evaluate import write_json
from handpose.inference.predictor import Predictor
from handpose.inference.sources import load_image
from handpose.inference.weights import BUNDLED_WEIGHTS, load_estimator, resolve_weights
from handpose.synth.cache import prepare_synth_set

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"
#: The synthetic test split's seed: not one of configs/detection/detector_synth.yaml's (301, 302).
TEST_SEED = 303
#: scikit-image's bundled photos (public domain / CC0) that show no person, so no hand.
HANDLESS_PHOTOS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field", "moon", "coins")


def handless_images(annotations: Path) -> dict[str, list[np.ndarray]]:
    """The images of a COCO file that no annotation names, and scikit-image's hand-less photos
    (grayscale ones as RGB)."""
    from skimage import data

    coco = json.loads(annotations.read_text())
    annotated = {annotation["image_id"] for annotation in coco["annotations"]}
    scenes = [load_image(annotations.parent / image["file_name"]) for image in coco["images"] if image["id"] not in annotated]
    photos = [np.asarray(getattr(data, name)()) for name in HANDLESS_PHOTOS]
    photos = [np.ascontiguousarray(np.stack([p] * 3, -1) if p.ndim == 2 else p[..., :3]).astype(np.uint8) for p in photos]
    return {"synthetic_scenes_without_hands": scenes, "photos_without_people": photos}


def pipeline_on_handless(predictor: Predictor, images: list[np.ndarray]) -> dict[str, object]:
    """How many ``images`` (none shows a hand) the Predictor finds a hand in, and the finders of
    the hands it reports."""
    found = [predictor(image) for image in images]
    return {
        "images": len(images),
        "images_with_a_hand": sum(1 for hands in found if hands),
        "hands_by_finder": dict(Counter(hand.finder for hands in found for hand in hands)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="detector", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--count", type=int, default=500, help="synthetic test images (default 500)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache", help="where the synthetic split is generated")
    parser.add_argument("--real", type=Path, default=REAL, help=f"the real frames' annotations (default: {REAL})")
    parser.add_argument("--pose-weights", default="default", help="the pose weights of the whole-pipeline check")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"skipped: the bundled weights {resolve_weights(args.weights)} are not there yet; give --weights")
        return 0
    detector = load_estimator(args.weights)
    synthetic = prepare_synth_set(args.count, TEST_SEED, 256, args.cache, scene_kind="detection")
    report = {"synthetic_test": evaluate_detector(detector, f"coco:{synthetic}")}
    if args.real.is_file():
        report["real_dev"] = evaluate_detector(detector, f"coco:{args.real}", gt_boxes="keypoints")
    else:
        print(f"real frames not scored: {args.real} is not there (the data beside the checkout)")
    predictor = Predictor(args.pose_weights, detector=detector, finder="auto")
    report["pipeline_without_hands"] = {
        name: pipeline_on_handless(predictor, images) for name, images in handless_images(synthetic).items()
    }
    print(json.dumps(report, indent=2))
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
