"""Training frames that teach the model what is *not* a polyp, written next to the prepared data.

- **Blank frames**: one colour under a faint gradient and noise (scope out of the patient, lens covered, a video
  processor's test screen). The datasets hold none, and a model once boxed a polyp in a uniform grey frame.
- **Flat shapes**: training images with discs, ellipses and polygons of one flat colour pasted beside their polyps
  (a marker, an occluder, an on-screen symbol). Without them the model learns "a round blob is a polyp": 1.10.0
  boxed a flat red disc pasted on 59 of 60 held-out Kvasir frames, at up to 0.97.

Both are seeded, so a run is reproducible, and ultralytics trains on them with the labels they carry (none for a
blank frame, the image's own polyps for a frame with shapes).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml
from PIL import Image

from polypdet.io.datasets import load_yolo_images, yolo_label_path

BLANK_FRAME_SHAPES = ((240, 320), (480, 640), (180, 320), (576, 1024), (288, 352))
"""Heights and widths of the blank frames: 4:3, 16:9 and the 11:9 of some video processors."""
SHAPE_KINDS = ("disc", "ellipse", "rectangle", "triangle", "pentagon")
SHAPE_SIZE = (0.05, 0.2)
"""A pasted shape's radius, as a share of the image's shorter side."""


def add_background_frames(data_yaml: Path, out: Path, seed: int, blank: int = 0, shapes: int = 0) -> Path:
    """Write ``blank`` blank frames and ``shapes`` frames with flat shapes under ``out``, and a data.yaml that
    trains on them as well as on ``data_yaml``'s training images."""
    images, labels = out / "images", out / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load(data_yaml.read_text())
    root = Path(spec["path"])
    rng = np.random.default_rng(seed)
    for index in range(blank):
        height, width = BLANK_FRAME_SHAPES[index % len(BLANK_FRAME_SHAPES)]
        Image.fromarray(blank_frame(height, width, index % 2 == 0, rng)).save(images / f"blank_{index:04d}.png")
        (labels / f"blank_{index:04d}.txt").write_text("")
    if shapes:
        training = sorted((root / spec["train"]).iterdir())
        picked = rng.choice(len(training), size=min(shapes, len(training)), replace=False)
        for index, item in enumerate(load_yolo_images([training[i] for i in sorted(picked)])):
            with Image.open(item.path) as image:
                pixels = np.asarray(image.convert("RGB")).copy()
            paste_flat_shapes(pixels, item.boxes, rng)
            name = f"shapes_{index:04d}_{item.path.stem}"
            Image.fromarray(pixels).save(images / f"{name}.jpg", quality=95)
            (labels / f"{name}.txt").write_text(yolo_label_path(item.path).read_text())
    spec["val"] = [str(root / v) for v in spec["val"]]
    spec.update(path=str(out.resolve()), train=[str(root / spec["train"]), "images"])
    with_frames = out / "data.yaml"
    with_frames.write_text(yaml.safe_dump(spec, sort_keys=False))
    return with_frames


def blank_frame(height: int, width: int, grey: bool, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """One colour (a grey, or a random tint), a faint linear gradient and sensor noise."""
    colour = np.full(3, rng.uniform(0, 255)) if grey else rng.uniform(0, 255, 3)
    ramp = np.linspace(-1.0, 1.0, width)[None, :] * np.cos(angle := rng.uniform(0, np.pi))
    ramp = ramp + np.linspace(-1.0, 1.0, height)[:, None] * np.sin(angle)
    frame = colour + rng.uniform(0, 12) * ramp[..., None] + rng.normal(0, rng.uniform(0, 3), (height, width, 3))
    return np.asarray(np.clip(frame, 0, 255).round(), dtype=np.uint8)


def paste_flat_shapes(
    image: npt.NDArray[np.uint8], polyps: npt.NDArray[np.float32], rng: np.random.Generator, count: int = 0
) -> list[tuple[int, int, int, int]]:
    """Paste ``count`` (default 1-3) flat shapes into ``image`` (RGB, in place), none touching a polyp's box;
    returns the boxes of those pasted (a shape is left out when there is no free place)."""
    height, width = image.shape[:2]
    pasted = []
    for _ in range(count or int(rng.integers(1, 4))):
        radius = int(rng.uniform(*SHAPE_SIZE) * min(height, width))
        centre = free_centre(height, width, radius, polyps, rng)
        if centre is not None:
            draw_flat_shape(image, str(rng.choice(SHAPE_KINDS)), centre, radius, _colour(rng), rng)
            pasted.append((centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius))
    return pasted


def free_centre(
    height: int, width: int, radius: int, polyps: npt.NDArray[np.float32], rng: np.random.Generator, tries: int = 20
) -> tuple[int, int] | None:
    """A random centre whose square of ``radius`` lies inside the image and touches no polyp's box, if one is found."""
    for _ in range(tries):
        x, y = int(rng.integers(radius, width - radius)), int(rng.integers(radius, height - radius))
        box = (x - radius, y - radius, x + radius, y + radius)
        if not any(box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in polyps):
            return x, y
    return None


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A third red like blood or a marker, a third near white like a bubble or a label, a third anything."""
    kind = rng.integers(3)
    if kind == 0:
        rgb = (rng.integers(150, 256), rng.integers(0, 90), rng.integers(0, 90))
    elif kind == 1:
        rgb = tuple(rng.integers(200, 256, 3))
    else:
        rgb = tuple(rng.integers(0, 256, 3))
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def draw_flat_shape(
    image: npt.NDArray[np.uint8],
    kind: str,
    centre: tuple[int, int],
    radius: int,
    colour: tuple[int, int, int],
    rng: np.random.Generator,
) -> None:
    """One of :data:`SHAPE_KINDS` in one colour, anti-aliased, at a random orientation."""
    if kind == "disc":
        cv2.circle(image, centre, radius, colour, -1, cv2.LINE_AA)
    elif kind == "ellipse":
        axes = (radius, max(1, int(radius * rng.uniform(0.4, 0.9))))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    else:
        corners = {"rectangle": 4, "triangle": 3, "pentagon": 5}[kind]
        angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, corners, endpoint=False)
        points = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], axis=1)
        cv2.fillPoly(image, [points.round().astype(np.int32)], colour, cv2.LINE_AA)
