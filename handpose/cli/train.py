"""``handpose train CONFIG [key=value ...]``: train a pose network from an experiment config.

Overrides are dotted keys with YAML values, e.g. trainer.max_epochs=3 model.width_mult=0.5
data.train.0.weight=2; an unknown key is an error naming it. Running the same command again
on the same output folder resumes from its last checkpoint. Exit status 2 for a bad config, 1 for
unreadable data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a pose network from a YAML experiment config",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("config", type=Path, help="experiment YAML, e.g. configs/default.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import yaml

    from handpose.structures import SampleError
    from handpose.train.config import ConfigError, load_config

    try:
        config = load_config(args.config, args.overrides)
        if args.print_config:
            print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
            return 0
        from handpose.train.run import train

        result = train(config)
    except ConfigError as error:
        print(f"handpose train: {error}", file=sys.stderr)
        return 2
    except SampleError as error:  # unreadable data: the message names the file and the sample
        print(f"handpose train: {error}", file=sys.stderr)
        return 1
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0:  # every process of a multi-process run returns here
        return 0
    print(f"run folder: {result.run_dir}")
    print(f"best checkpoint: {result.best_checkpoint or '(none: no validation ran)'}")
    print(f"last checkpoint: {result.last_checkpoint}")
    shown = [name for name in ("val_loss", "val_epe_px", "val_auc") if name in result.metrics]
    if shown:
        print("last validation: " + ", ".join(f"{name} {result.metrics[name]:.4g}" for name in shown))
    return 0
