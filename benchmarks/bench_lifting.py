"""Zimmermann & Brox's table on the synthetic test split: 3D from ground-truth against predicted score maps.

A PosePrior + ViewPoint lifter (``handpose train configs/lifting3d_synth.yaml``; its checkpoint
or exported weights) is fed, for each hand of the test split (seed 3, never trained on), the
ground-truth score maps (its Gaussian training targets) and the maps its 2D network predicts;
both 3D results are scored root-relative against the labels
(:func:`handpose.evaluation.lifting_table.lifting_table`): the headline is the scale-aligned AUC
over 20-50 mm, the paper's range, with mean errors and PA-MPJPE beside it.

    .venv/bin/python benchmarks/bench_lifting.py WEIGHTS [--count 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handpose.data.readers import read_dataset
from handpose.evaluation.evaluate import write_json
from handpose.evaluation.lifting_table import format_lifting_table, lifting_table
from handpose.inference.weights import load_estimator
from handpose.synth.cache import prepare_synth_set

ROOT = Path(__file__).resolve().parents[1]
#: The synthetic test split's seed (configs train on 1 and 4, validate on 2).
TEST_SEED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", help="the lifter's checkpoint or weights file (none is bundled)")
    parser.add_argument("--count", type=int, default=300, help="synthetic test images (default 300)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache", help="where the split is generated")
    parser.add_argument("--json", type=Path, help="also write the table's reports here")
    args = parser.parse_args(argv)
    if args.weights is None:
        print("skipped: no lifter is bundled; give its checkpoint (handpose train configs/lifting3d_synth.yaml)")
        return 0
    estimator = load_estimator(args.weights)
    samples = read_dataset("coco", prepare_synth_set(args.count, TEST_SEED, 256, args.cache)).samples
    table = lifting_table(estimator, samples, progress=True)
    print(f"{table['num_hands']} hands; scale-aligned AUC 20-50 mm: {json.dumps(table['auc_20_50_mm'])}")
    print(format_lifting_table(table))
    if args.json is not None:
        write_json(args.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
