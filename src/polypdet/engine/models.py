"""Installed models: ``models/<name>/`` with ``model.onnx`` and a ``card.yaml`` model card.

The card is the single source of ``model_version``, input size and class names for every output.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MODEL = "polyp-yolov8n"
CARD = "card.yaml"


class ModelNotFoundError(FileNotFoundError):
    """No model at the given path or name."""


@dataclass(frozen=True)
class ModelInfo:
    """What the engine needs to know about one model, read from its card."""

    name: str
    version: str
    onnx_path: Path
    input_size: int
    class_names: tuple[str, ...]
    sha256: str = ""
    int8_path: Path | None = None
    """An int8 OpenVINO IR of the same weights (see :mod:`polypdet.train.quantize`), if there is one."""
    int8_default: bool = False
    """The int8 IR passed the card's accuracy rule, so ``precision="auto"`` runs it."""
    card: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_version(self) -> str:
        """The string every result carries, e.g. ``polyp-yolov8n@1.1.0``."""
        return f"{self.name}@{self.version}"


def models_dir() -> Path:
    """``POLYPDET_MODELS_DIR``, else the repository's ``models/``, else ``./models``."""
    if env := os.environ.get("POLYPDET_MODELS_DIR"):
        return Path(env)
    repo_models = Path(__file__).resolve().parents[3] / "models"
    return repo_models if repo_models.is_dir() else Path.cwd() / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_card(folder: Path) -> ModelInfo:
    """Read ``folder/card.yaml``."""
    card = yaml.safe_load((folder / CARD).read_text())
    return ModelInfo(
        name=str(card["name"]),
        version=str(card["version"]),
        onnx_path=folder / card.get("file", "model.onnx"),
        input_size=int(card["input_size"]),
        class_names=tuple(card.get("classes", ["polyp"])),
        sha256=str(card.get("sha256", "")),
        int8_path=folder / card["int8"]["file"] if card.get("int8") else None,
        int8_default=bool((card.get("int8") or {}).get("served_by_default", False)),
        card=card,
    )


def _onnx_metadata_info(path: Path) -> ModelInfo:
    """A bare ONNX file: take size and names from ultralytics' export metadata when present."""
    import ast

    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    shape = session.get_inputs()[0].shape
    size = ast.literal_eval(meta["imgsz"])[0] if "imgsz" in meta else shape[-1]
    names = ast.literal_eval(meta["names"]) if "names" in meta else {0: "polyp"}
    return ModelInfo(
        name=path.stem,
        version=meta.get("version", "0"),
        onnx_path=path,
        input_size=int(size) if isinstance(size, int) else 640,
        class_names=tuple(names[i] for i in sorted(names)),
    )


def resolve_model(spec: str | Path | None = None) -> ModelInfo:
    """Find a model by folder, card, ``.onnx`` or ``.pt`` path, or by name under :func:`models_dir`.

    ``None`` means ``MODEL_PATH`` from the environment, else the shipped default.
    """
    spec = spec or os.environ.get("MODEL_PATH") or DEFAULT_MODEL
    path = Path(spec)
    if not path.exists() and (models_dir() / str(spec)).exists():
        path = models_dir() / str(spec)
    if path.is_dir() and (path / CARD).exists():
        return read_card(path)
    if path.name == CARD and path.exists():
        return read_card(path.parent)
    if path.suffix == ".onnx" and path.exists():
        return read_card(path.parent) if (path.parent / CARD).exists() else _onnx_metadata_info(path)
    if path.suffix == ".pt" and path.exists():
        from polypdet.train.export import onnx_from_checkpoint

        return _onnx_metadata_info(onnx_from_checkpoint(path))
    raise ModelNotFoundError(f"no model at {spec!s} (looked in {models_dir()})")


def installed_models() -> list[ModelInfo]:
    """Every model folder with a card under :func:`models_dir`."""
    root = models_dir()
    return [read_card(p) for p in sorted(root.iterdir()) if (p / CARD).exists()] if root.is_dir() else []
