"""HandSegNet's masks on a synthetic test split.

Figures from :func:`handpose.evaluation.segmentation.evaluate_segmentation` (mask IoU per class,
of the whole hand, and per image) on a synthetic split in RHD's layout with a seed that neither
training nor validation used (configs/segmentation/handsegnet_synth.yaml trains on 401 and
validates on 402), generated once into ``--cache``. Its hands on the real dev frames, Zimmermann
& Brox's pipeline end to end beside the other finders, are ``bench_finders.py``'s.

    .venv/bin/python benchmarks/bench_segmentation.py [--weights handsegnet] [--count 300] [--json out.json]

Says so and exits 0 when the weights are not there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handpose.evaluation.evaluate import write_json
from handpose.evaluation.segmentation import evaluate_segmentation
from handpose.inference.weights import BUNDLED_WEIGHTS, load_estimator, resolve_weights
from handpose.synth import generate_dataset

ROOT = Path(__file__).resolve().parents[1]
#: The test split's seed: not the config's training (401) or validation (402) seed.
TEST_SEED = 404


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="handsegnet", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--count", type=int, default=300, help="synthetic test images (default 300)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache", help="where the synthetic split goes")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"skipped: the bundled weights {resolve_weights(args.weights)} are not there yet; give --weights")
        return 0
    segnet = load_estimator(args.weights)
    folder = args.cache / f"rhd-seg-n{args.count}-seed{TEST_SEED}-256px"
    if not (folder / "evaluation").is_dir():
        generate_dataset(folder, args.count, 256, TEST_SEED, format="rhd", split="test")
    spec = f"rhd:{folder}?split=evaluation&image_size=256&min_visible_joints=1"
    report: dict = {"synthetic_test": {"seed": TEST_SEED, "count": args.count, **evaluate_segmentation(segnet, spec)}}
    print(json.dumps(report, indent=2))
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
