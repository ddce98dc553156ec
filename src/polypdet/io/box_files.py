"""Box annotations in the two other formats polyp datasets are shared in: COCO JSON and Pascal VOC XML.

Every category counts as a polyp (the detector has one class); an image with no box is a polyp-free frame; boxes
thinner than :data:`~polypdet.io.datasets.MIN_BOX_SIDE` are dropped, as by every reader.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

import numpy as np

from polypdet.io.datasets import DatasetError, LabeledImage, drop_artefacts, image_files


def load_coco(annotations: Path) -> list[LabeledImage]:
    """A COCO ``instances.json``: each image's ``bbox`` ``[x, y, w, h]`` as xyxy. Its ``file_name`` is looked for
    beside the JSON file, in an ``images/`` folder there, and in one beside its folder (``annotations/`` + ``images/``).
    """
    try:
        spec = json.loads(annotations.read_text())
        images = {int(image["id"]): str(image["file_name"]) for image in spec["images"]}
        boxes: dict[int, list[list[float]]] = defaultdict(list)
        for annotation in spec.get("annotations", []):
            x, y, w, h = (float(v) for v in annotation["bbox"])
            boxes[int(annotation["image_id"])].append([x, y, x + w, y + h])
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"{annotations}: not a COCO annotation file ({type(error).__name__}: {error})") from None
    roots = [annotations.parent, annotations.parent / "images", annotations.parent.parent / "images"]
    items = []
    for image_id, name in sorted(images.items(), key=lambda entry: entry[1]):
        path = next((root / name for root in roots if (root / name).is_file()), None)
        if path is None:
            raise DatasetError(f"{annotations}: image {name} not found beside it or in images/")
        items.append(LabeledImage(path, drop_artefacts(np.asarray(boxes[image_id], np.float32).reshape(-1, 4))))
    return items


VOC_CORNERS = (("xmin", 1), ("ymin", 1), ("xmax", 0), ("ymax", 0))
"""VOC's corner tags and what turns each into a pixel edge: its numbers start at 1 and include xmax and ymax."""


def load_voc(annotations: Path, images: Path) -> list[LabeledImage]:
    """Pascal VOC: one XML file per image in ``annotations`` (``Annotations/``), the images in ``images``
    (``JPEGImages/``), matched by name."""
    by_stem = {path.stem: path for path in image_files(images)}
    items = []
    for xml in sorted(annotations.glob("*.xml")):
        image = by_stem.get(xml.stem)
        if image is None:
            raise DatasetError(f"{xml}: no image named {xml.stem} in {images}")
        items.append(LabeledImage(image, _voc_boxes(xml)))
    return items


def _voc_boxes(xml: Path) -> np.ndarray:
    try:
        root = ElementTree.parse(xml).getroot()
        rows = [[float(box.findtext(tag) or "") - shift for tag, shift in VOC_CORNERS] for box in root.iter("bndbox")]
    except (ElementTree.ParseError, ValueError) as error:
        raise DatasetError(f"{xml}: not a Pascal VOC annotation ({error})") from None
    return drop_artefacts(np.asarray(rows, np.float32).reshape(-1, 4))
