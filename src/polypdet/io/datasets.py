"""Read labelled polyp datasets: YOLO folders, ``data.yaml`` files, Kvasir-SEG-style folders (images + masks), and
COCO JSON or Pascal VOC box files (:mod:`polypdet.io.box_files`).

Every reader yields :class:`LabeledImage` with boxes as ``(N, 4)`` xyxy pixel arrays, so evaluation and
data preparation never care which layout the labels came in.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
MIN_BOX_SIDE = 4
"""Boxes thinner than this (pixels) are annotation artefacts (Kvasir-SEG has a few 2-px boxes); every reader drops
them."""


class DatasetError(ValueError):
    """The folder or file is not a dataset polypdet can read."""


@dataclass(frozen=True)
class LabeledImage:
    """One image and its ground-truth polyp boxes (xyxy, original pixels)."""

    path: Path
    boxes: np.ndarray

    @property
    def stem(self) -> str:
        return self.path.stem


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def drop_artefacts(boxes: np.ndarray) -> np.ndarray:
    """Remove boxes thinner than :data:`MIN_BOX_SIDE` pixels."""
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIDE) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIDE)
    return np.asarray(boxes[keep], dtype=np.float32)


def boxes_from_csv(path: Path) -> np.ndarray:
    """Kvasir-SEG ``bbox/*.csv``: ``class_name,xmin,ymin,xmax,ymax``, one row per polyp."""
    with path.open(newline="") as handle:
        rows = [
            [float(r["xmin"]), float(r["ymin"]), float(r["xmax"]), float(r["ymax"])] for r in csv.DictReader(handle)
        ]
    return drop_artefacts(np.asarray(rows, dtype=np.float32).reshape(-1, 4))


def boxes_from_mask(path: Path, min_area: int = 64, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """One box per connected component of a binary mask: 0/255 (grey JPEG: threshold > 127) or 0/1, grey or in a
    colour (its brightest channel counts: a red polyp on black is a polyp).

    A mask of another size than its image (``image_size``: width, height) has its boxes scaled to the image.
    """
    import cv2

    read = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if read is None:
        raise DatasetError(f"cannot read mask {path}")
    mask = read.max(axis=2)
    threshold = 0 if mask.max() == 1 else 127
    count, _, stats, _ = cv2.connectedComponentsWithStats((mask > threshold).astype(np.uint8), connectivity=8)
    rows = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:count] if area >= min_area]
    boxes = np.asarray(rows, dtype=np.float32).reshape(-1, 4)
    if image_size is not None and image_size != (mask.shape[1], mask.shape[0]):
        sx, sy = image_size[0] / mask.shape[1], image_size[1] / mask.shape[0]
        boxes *= np.array([sx, sy, sx, sy], np.float32)
    return drop_artefacts(boxes)


def boxes_from_yolo(label: Path, width: int, height: int) -> np.ndarray:
    """YOLO label lines to xyxy pixels: ``class cx cy w h`` (normalised) boxes, or ``class x1 y1 x2 y2 x3 y3 ...``
    polygons (ultralytics' segmentation labels, each boxed by its extent); a missing file means no polyp."""
    if not label.exists():
        return np.zeros((0, 4), dtype=np.float32)
    rows = []
    for number, line in enumerate(label.read_text().splitlines(), start=1):
        try:
            values = [float(v) for v in line.split()[1:]]
        except ValueError:
            raise DatasetError(f"{label}: line {number} is not numbers") from None
        if len(values) == 4:
            cx, cy, w, h = values
            rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            rows.append([min(xs), min(ys), max(xs), max(ys)])
        elif values:
            raise DatasetError(f"{label}: line {number} is neither a box (class cx cy w h) nor a polygon")
    pixels = np.asarray(rows, np.float64).reshape(-1, 4) * [width, height, width, height]
    return drop_artefacts(pixels.astype(np.float32))


def yolo_label_path(image: Path) -> Path:
    """The label file of a YOLO layout's image: ``.../images/...`` swapped for ``.../labels/...``, ``.txt``."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def load_yolo_images(images: list[Path]) -> list[LabeledImage]:
    """Images of a YOLO layout with the labels found by swapping ``images`` for ``labels``.

    An image whose size cannot be read gets no boxes: reading it for detection fails too, and says why.
    """
    items = []
    for image in images:
        size = _image_size(image)
        boxes = boxes_from_yolo(yolo_label_path(image), *size) if size else np.zeros((0, 4), np.float32)
        items.append(LabeledImage(image, boxes))
    return items


def _image_size(image: Path) -> tuple[int, int] | None:
    try:
        with Image.open(image) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


MASK_NAMES = ("{}", "{}_mask", "{}-mask", "p{}")
"""How datasets name an image's mask: Kvasir-SEG and CVC-ClinicDB alike, PolypGen ``_mask``, ETIS and
CVC-ColonDB ``p1.tif`` for ``1.tif``."""


def _mask_index(masks: Path) -> dict[str, Path]:
    """Mask files by their path below ``masks`` without suffix, lower-cased."""
    return {str(m.relative_to(masks).with_suffix("")).lower(): m for m in image_files(masks)}


def _find_mask(image: Path, images: Path, masks: dict[str, Path]) -> Path | None:
    folders = dict.fromkeys((image.relative_to(images).parent, Path(".")))  # mirrored, then flat
    candidates = (str(folder / name.format(image.stem)).lower() for folder in folders for name in MASK_NAMES)
    return next((masks[c] for c in candidates if c in masks), None)


IMAGE_FOLDERS = frozenset({"images", "image", "imgs", "original"})
MASK_FOLDERS = frozenset({"masks", "mask", "ground truth", "groundtruth", "gt"})
"""Names of the image and mask folders of public polyp datasets, compared lower-cased and without a ``_suffix``:
Kvasir-SEG and PraNet's test sets ``images``/``masks``, PolypGen ``images_C1``/``masks_C1``, CVC-ClinicDB's own
release ``Original``/``Ground Truth``, ETIS-Larib's ``GroundTruth``."""


def _folder(data: Path, names: frozenset[str]) -> Path | None:
    """The one sub-folder of ``data`` with one of these ``names``; None if there is none, or several."""
    found = [d for d in data.iterdir() if d.is_dir() and d.name.lower().split("_")[0] in names]
    return found[0] if len(found) == 1 else None


def _image_and_mask_folders(data: Path) -> tuple[Path | None, Path | None]:
    """Where the images and their masks are. Beside a mask folder, the one other folder holding images is taken
    whatever its name (ETIS-Larib's release: ``ETIS-LaribPolypDB/`` + ``GroundTruth/``)."""
    images, masks = _folder(data, IMAGE_FOLDERS), _folder(data, MASK_FOLDERS)
    if masks and not images:
        others = [d for d in data.iterdir() if d.is_dir() and d != masks and image_files(d)]
        images = others[0] if len(others) == 1 else None
    return images, masks


def _read_kvasir(images: Path, masks: Path | None, bbox: Path) -> Iterator[LabeledImage]:
    index = _mask_index(masks) if masks else {}
    for image in image_files(images):
        csv_path = bbox / f"{image.stem}.csv"
        if csv_path.exists():
            yield LabeledImage(image, boxes_from_csv(csv_path))
            continue
        mask = _find_mask(image, images, index)
        if mask is None:
            raise DatasetError(f"no bbox CSV or mask for {image}")
        yield LabeledImage(image, boxes_from_mask(mask, image_size=_image_size(image)))


def _yaml_images(data_yaml: Path, split: str) -> list[Path]:
    spec = yaml.safe_load(data_yaml.read_text())
    if not isinstance(spec, dict) or split not in spec:
        raise DatasetError(f"{data_yaml} has no '{split}' entry")
    base = Path(spec.get("path") or data_yaml.parent)
    if not base.is_absolute():
        base = data_yaml.parent / base
    entries = spec[split] if isinstance(spec[split], list) else [spec[split]]
    images: list[Path] = []
    for entry in entries:
        target = base / entry
        if target.suffix == ".txt":
            images += [base / line.strip() for line in target.read_text().splitlines() if line.strip()]
        else:
            images += image_files(target)
    return images


def _box_files(data: Path) -> tuple[Path | None, tuple[Path, Path] | None]:
    """The COCO JSON file that ``data`` is or holds in ``annotations/``, and Pascal VOC's ``Annotations/`` (XML)
    and image folder (``JPEGImages/`` or ``images/``) in ``data``, where there are."""
    if not data.is_dir():
        return (data if data.suffix == ".json" and data.is_file() else None), None
    folders = {d.name.lower(): d for d in data.iterdir() if d.is_dir()}
    annotations = folders.get("annotations")
    if annotations is None:
        return None, None
    coco = list(annotations.glob("*.json"))
    images = folders.get("jpegimages") or _folder(data, IMAGE_FOLDERS)
    voc = (annotations, images) if images and any(annotations.glob("*.xml")) else None
    return (coco[0] if len(coco) == 1 else None), voc


def load_dataset(data: Path, split: str = "val") -> list[LabeledImage]:
    """Read any supported layout; ``split`` picks the entry of a ``data.yaml``."""
    from polypdet.io.box_files import load_coco, load_voc

    images, masks = _image_and_mask_folders(data) if data.is_dir() else (None, None)
    coco, voc = _box_files(data)
    if data.is_file() and data.suffix in {".yaml", ".yml"}:
        items = load_yolo_images(_yaml_images(data, split))
    elif images and (masks or (data / "bbox").is_dir()):
        items = list(_read_kvasir(images, masks, data / "bbox"))
    elif (data / "images").is_dir() and (data / "labels").is_dir():
        items = load_yolo_images(image_files(data / "images"))
    elif coco:
        items = load_coco(coco)
    elif voc:
        items = load_voc(*voc)
    else:
        raise DatasetError(
            f"{data}: expected a data.yaml, a YOLO folder (images/ + labels/), a Kvasir-SEG-style folder "
            "(images/ + masks/ or bbox/; also images_C1/ + masks_C1/, Original/ + Ground Truth/), "
            "a COCO JSON file (or annotations/ with one), or Pascal VOC (Annotations/ + JPEGImages/)"
        )
    if not items:
        raise DatasetError(f"{data}: no images found")
    return items
