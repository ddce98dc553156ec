"""``polypdet quantize``: give an installed model its int8 OpenVINO weights, scored on the held-out sets.

``polypdet train`` ends with this step; run it alone to re-make the int8 IR of a model (needs the train extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polypdet.cli.main import CliError
from polypdet.cli.prepare import default_data_root, default_prepared

if TYPE_CHECKING:
    from polypdet.engine.models import ModelInfo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="installed model folder or name (default: the shipped model)")
    parser.add_argument("--source", type=Path, default=None, help="raw datasets (default POLYPDET_DATA)")
    parser.add_argument("--prepared", type=Path, default=None, help="prepared layout (default ~/.cache/polypdet/data)")


def run(args: argparse.Namespace) -> int:
    from polypdet.engine.models import ModelNotFoundError, resolve_model
    from polypdet.train.prepare import prepare_data

    try:
        info = resolve_model(args.model)
    except ModelNotFoundError as error:
        raise CliError(str(error)) from None
    if not info.card:
        raise CliError(f"{info.onnx_path} has no model card: install it first (polypdet train installs its models)")
    prepared = prepare_data(args.source or default_data_root(), args.prepared or default_prepared())
    info = add_int8(info, prepared.data_yaml.parent)
    served = "served by default" if info.int8_default else "not served by default (--precision int8 runs them)"
    print(f"int8 weights for {info.model_version} at {info.int8_path}: {served}")
    return 0


def add_int8(info: ModelInfo, prepared_root: Path) -> ModelInfo:
    """Quantise ``info``'s ONNX on training images, score both on every held-out set, install the IR beside it."""
    import tempfile
    from dataclasses import replace

    from polypdet.evaluation.holdout import holdout_metrics
    from polypdet.train.install import install_model
    from polypdet.train.quantize import METHOD, RULE, calibration_images, int8_within_tolerance, quantize_openvino

    images = calibration_images(list((prepared_root / "images" / "train").iterdir()))
    with tempfile.TemporaryDirectory() as scratch:
        xml = quantize_openvino(info.onnx_path, images, info.input_size, Path(scratch) / "int8.xml")
        metrics = holdout_metrics(replace(info, int8_path=xml), prepared_root / "holdout")
        card: dict[str, Any] = {
            **info.card,
            "metrics": metrics,
            "int8": {
                "method": METHOD,
                "calibration": f"{len(images)} training images evenly spread over the sorted list, "
                f"letterboxed to {info.input_size}",
                "command": "polypdet quantize",
                "served_by_default": int8_within_tolerance(metrics),
                "rule": RULE,
            },
        }
        return install_model(info.onnx_path, info.onnx_path.parent.parent, card, xml)
