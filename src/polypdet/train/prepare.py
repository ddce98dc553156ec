"""Turn the raw polyp datasets into one YOLO training layout with reproducible held-out splits.

Layout written under ``out`` (images are symlinks, never copies)::

    images/train/  labels/train/          what the model learns from
    holdout/kvasir/{images,labels}/       Kvasir-SEG images never trained on
    holdout/clinicdb/{images,labels}/     CVC-ClinicDB's own val split, never trained on
    data.yaml                             train + both held-out sets as val
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from polypdet.io.datasets import LabeledImage, image_files, load_dataset, load_yolo_images

KVASIR_HOLDOUT_FRACTION = 120 / 880
"""Share of Kvasir-SEG held out: 120 of the 880 here, the size of its official test split."""
SPLIT_SEED = 20251114


@dataclass(frozen=True)
class PreparedData:
    data_yaml: Path
    train: int
    holdout: dict[str, int]


def kvasir_holdout_stems(stems: Iterable[str], seed: int = SPLIT_SEED) -> set[str]:
    """The reproducible held-out subset: a seeded shuffle of the sorted names."""
    ordered = sorted(stems)
    random.Random(seed).shuffle(ordered)
    return set(ordered[: round(len(ordered) * KVASIR_HOLDOUT_FRACTION)])


def _yolo_lines(boxes: np.ndarray, width: int, height: int) -> str:
    lines = []
    for x1, y1, x2, y2 in np.clip(boxes, 0, [width, height, width, height]):
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def _write(items: Iterable[LabeledImage], images_dir: Path, labels_dir: Path, prefix: str) -> int:
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for item in items:
        name = f"{prefix}_{item.stem}"
        link = images_dir / f"{name}{item.path.suffix.lower()}"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(item.path.resolve())
        with Image.open(item.path) as im:
            width, height = im.size
        (labels_dir / f"{name}.txt").write_text(_yolo_lines(item.boxes, width, height))
        count += 1
    return count


def prepare_data(source: Path, out: Path) -> PreparedData:
    """Build the layout from ``source`` (``kvasir-seg/`` and ``cvc-clinicdb/`` below it)."""
    kvasir = load_dataset(source / "kvasir-seg")
    held = kvasir_holdout_stems(item.stem for item in kvasir)
    # CVC-ClinicDB ships its own split by frame sequence (val = frames 429-503): keep it.
    clinic = source / "cvc-clinicdb"
    clinic_train = load_yolo_images(image_files(clinic / "images" / "train"))
    clinic_val = load_yolo_images(image_files(clinic / "images" / "val"))

    train = _write((i for i in kvasir if i.stem not in held), out / "images/train", out / "labels/train", "kvasir")
    train += _write(clinic_train, out / "images/train", out / "labels/train", "clinicdb")
    holdout = {
        "kvasir": _write(
            (i for i in kvasir if i.stem in held),
            out / "holdout/kvasir/images",
            out / "holdout/kvasir/labels",
            "kvasir",
        ),
        "clinicdb": _write(clinic_val, out / "holdout/clinicdb/images", out / "holdout/clinicdb/labels", "clinicdb"),
    }
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(out.resolve()),
                "train": "images/train",
                "val": ["holdout/kvasir/images", "holdout/clinicdb/images"],
                "names": {0: "polyp"},
            },
            sort_keys=False,
        )
    )
    return PreparedData(data_yaml, train, holdout)
