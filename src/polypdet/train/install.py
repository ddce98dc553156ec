"""Install an exported model into ``models/<name>/`` with its model card."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from polypdet.engine.models import CARD, ModelInfo, read_card, sha256_of


def install_model(onnx_path: Path, models_root: Path, card: dict[str, Any]) -> ModelInfo:
    """Copy ``onnx_path`` to ``models_root/<card name>/model.onnx`` and write ``card.yaml`` beside it.

    ``card`` must hold at least ``name``, ``version`` and ``input_size``; the file name and its sha256
    are filled in here so they always match the weights.
    """
    folder = models_root / str(card["name"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    if onnx_path.resolve() != target.resolve():
        shutil.copyfile(onnx_path, target)
    rest = {key: value for key, value in card.items() if key not in {"file", "sha256"}}
    full = {"file": target.name, "sha256": sha256_of(target), **rest}
    (folder / CARD).write_text(yaml.safe_dump(full, sort_keys=False, width=100, allow_unicode=True))
    return read_card(folder)
