"""Install an exported model into ``models/<name>/`` with its model card."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from polypdet.engine.models import CARD, ModelInfo, read_card, sha256_of

INT8_FILE = "model-int8.xml"
"""The int8 OpenVINO IR beside ``model.onnx`` (and its ``.bin``), when the model has one."""


def install_model(onnx_path: Path, models_root: Path, card: dict[str, Any], int8_xml: Path | None = None) -> ModelInfo:
    """Copy ``onnx_path`` to ``models_root/<card name>/model.onnx`` and write ``card.yaml`` beside it.

    ``card`` must hold at least ``name``, ``version`` and ``input_size``; the file name and its sha256
    are filled in here so they always match the weights. ``int8_xml`` (with its ``.bin``) becomes the
    OpenVINO int8 variant, recorded under the card's ``int8`` key (what else that key says is kept).
    """
    folder = models_root / str(card["name"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    _copy(onnx_path, target)
    rest = {key: value for key, value in card.items() if key not in {"file", "sha256"}}
    full = {"file": target.name, "sha256": sha256_of(target), **rest}
    if int8_xml is not None:
        xml = folder / INT8_FILE
        _copy(int8_xml, xml)
        _copy(int8_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
        notes = {k: v for k, v in (card.get("int8") or {}).items() if k not in {"file", "sha256", "weights_sha256"}}
        full["int8"] = {
            "file": xml.name,
            "sha256": sha256_of(xml),
            "weights_sha256": sha256_of(xml.with_suffix(".bin")),
            **notes,
        }
    (folder / CARD).write_text(yaml.safe_dump(full, sort_keys=False, width=100, allow_unicode=True))
    return read_card(folder)


def _copy(source: Path, target: Path) -> None:
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
