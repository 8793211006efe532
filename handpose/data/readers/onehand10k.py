"""OneHand10K (Wang et al. 2018) as distributed: one hand per image, canonical joint order.

Layout: ``<root>/<Split>/label_joint.txt`` with the images in ``<Split>/source/`` and hand masks
in ``<Split>/mask/`` (split: ``Train`` or ``Test``; none given: both present). Each line of
``label_joint.txt`` is ``file name, width, height, hand count, x1, y1, ..., x21, y21``; a joint that
is not visible has ``-1`` for a coordinate and is taken as not labelled, the others as visible. The
dataset does not say which hand it shows (``hand_side`` None).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handpose.data.readers.common import SampleCollector, build_sample, existing_file, require_file, split_names
from handpose.skeleton import NUM_JOINTS
from handpose.structures import NOT_LABELLED, VISIBLE, SampleError

SPLITS = ("Train", "Test")
_HEADER_FIELDS = 4  # file name, width, height, hand count


def read(path: Path, split: str | None, collector: SampleCollector) -> None:
    """OneHand10K as distributed (<Split>/label_joint.txt, <Split>/source/); splits Train, Test."""
    for name in split_names(path, split, SPLITS):
        label_path = require_file(path / name / "label_joint.txt", "OneHand10K label file")
        with open(label_path, encoding="utf-8") as f:
            lines = [(number, line.strip()) for number, line in enumerate(f, start=1) if line.strip()]
        for number, line in lines:
            fields = [field.strip() for field in line.split(",")]
            sample_id = f"{name}/{fields[0]}"
            with collector.guard(sample_id, f"{label_path} line {number}"):
                if len(fields) != _HEADER_FIELDS + 2 * NUM_JOINTS:
                    raise SampleError(f"{len(fields)} fields, expected {_HEADER_FIELDS + 2 * NUM_JOINTS} (name, width, height, count, 21 x, y)")
                try:
                    width, height = int(fields[1]), int(fields[2])
                    keypoints = np.array(fields[_HEADER_FIELDS:], dtype=np.float64).reshape(NUM_JOINTS, 2)
                except ValueError:
                    raise SampleError("width, height or coordinates are not numbers") from None
                collector.add(
                    build_sample(
                        source=collector.source,
                        sample_id=sample_id,
                        image=path / name / "source" / fields[0],
                        keypoints_2d=keypoints,
                        visibility=np.where(np.any(keypoints == -1, axis=1), NOT_LABELLED, VISIBLE),
                        hand_side=None,
                        image_size=(width, height) if width > 0 and height > 0 else None,
                        mask=existing_file(path / name / "mask" / Path(fields[0]).with_suffix(".png").name),
                        extras={"hand_count": fields[3], "group": sample_id},
                    )
                )
