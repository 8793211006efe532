"""FreiHAND (Zimmermann et al. 2019) as distributed: right hands, 224 x 224 images.

Layout under the root: ``<split>_K.json`` (N x 3 x 3) and ``<split>_xyz.json`` (N x 21 x 3,
metres, camera frame, canonical order), images ``<split>/rgb/%08d.jpg`` (split: ``training`` or
``evaluation``; none given: both present). The training set shows every labelled hand in four
appearances (green screen, then three recolourings: "gs", "hom", "sample", "auto"), so image
``i`` uses label ``i % N`` and there are 4 N images; ``appearances`` selects which are read
(a list, or names joined by commas).
The evaluation set has one image per label. ``training/mask/%08d.jpg`` (one per label) is the
hand mask of all four appearances.

2D keypoints are the projection of xyz with K; 3D is converted to mm. All joints are labelled and
flagged visible (FreiHAND has no occlusion flags). ``extras["group"]`` is the label
(``<split>/<label index>``), so a grouped split keeps the four appearances of a hand together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handpose.data.readers.common import (
    SampleCollector,
    build_sample,
    existing_file,
    load_json,
    numeric_array,
    project_labelled,
    split_names,
)
from handpose.skeleton import NUM_JOINTS
from handpose.structures import VISIBLE, SampleError

SPLITS = ("training", "evaluation")
APPEARANCES = ("gs", "hom", "sample", "auto")
IMAGE_SIZE = (224, 224)


def read(path: Path, split: str | None, collector: SampleCollector, *, appearances: str | list[str] = APPEARANCES) -> None:
    """FreiHAND as distributed (<split>_K.json, <split>_xyz.json, <split>/rgb/); splits training, evaluation."""
    chosen = appearances.split(",") if isinstance(appearances, str) else list(appearances)  # "gs,hom" from a command line
    unknown = sorted(set(chosen) - set(APPEARANCES))
    if unknown or not chosen:
        raise ValueError(f"appearances must be among {APPEARANCES}, got {appearances!r}")
    for name in _splits(path, split):
        K_path, xyz_path = path / f"{name}_K.json", path / f"{name}_xyz.json"
        all_K, all_xyz = load_json(K_path), load_json(xyz_path)
        if not isinstance(all_K, list) or not isinstance(all_xyz, list) or len(all_K) != len(all_xyz):
            raise SampleError(f"{K_path} and {xyz_path} must be lists of equal length (one entry per label)")
        num_labels = len(all_K)
        versions = [APPEARANCES.index(a) for a in chosen] if name == "training" else [0]
        for label in range(num_labels):
            try:  # parsed once, shared by the label's four appearances
                parsed: tuple | SampleError = _parse_label(all_K[label], all_xyz[label])
            except SampleError as error:
                parsed = error
            mask = existing_file(path / name / "mask" / f"{label:08d}.jpg")
            for version in versions:
                index = label + version * num_labels
                sample_id = f"{name}/{index:08d}"
                with collector.guard(sample_id, xyz_path):
                    if isinstance(parsed, SampleError):
                        raise SampleError(str(parsed))
                    K, xyz_mm, uv = parsed
                    collector.add(
                        build_sample(
                            source=collector.source,
                            sample_id=sample_id,
                            image=path / name / "rgb" / f"{index:08d}.jpg",
                            keypoints_2d=uv,
                            visibility=np.full(NUM_JOINTS, VISIBLE),
                            hand_side="right",
                            image_size=IMAGE_SIZE,
                            keypoints_3d=xyz_mm,
                            K=K,
                            mask=mask,
                            extras={
                                "label_index": label,
                                "appearance": APPEARANCES[version] if name == "training" else None,
                                "group": f"{name}/{label:08d}",
                            },
                        )
                    )


def _parse_label(K_entry: object, xyz_entry: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, the keypoints in mm and their projection, from one label's JSON entries."""
    K = numeric_array(K_entry, (3, 3), "K")
    xyz_mm = numeric_array(xyz_entry, (NUM_JOINTS, 3), "xyz") * 1000.0
    return K, xyz_mm, project_labelled(xyz_mm, K, np.ones(NUM_JOINTS, dtype=bool))


def _splits(path: Path, split: str | None) -> list[str]:
    """Splits to read: the one asked for, or those whose annotation files are present."""
    if split is not None:
        return split_names(path, split, SPLITS)
    present = [name for name in SPLITS if (path / f"{name}_xyz.json").is_file()]
    if not present:
        raise SampleError(f"{path}: annotation file training_xyz.json or evaluation_xyz.json is missing")
    return present
