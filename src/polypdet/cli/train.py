"""``polypdet train``: prepare the data, fine-tune (resumable), export, evaluate and install the model.

The shipped model is made by exactly this command; its card records the arguments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from polypdet.cli.main import CliError
from polypdet.cli.prepare import default_data_root, default_prepared

if TYPE_CHECKING:
    from polypdet.train.trainer import TrainRecipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from polypdet.train.trainer import TrainRecipe

    parser.add_argument("--source", type=Path, default=None, help="raw datasets (default POLYPDET_DATA)")
    parser.add_argument("--prepared", type=Path, default=None, help="prepared layout (default ~/.cache/polypdet/data)")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path.home() / ".cache/polypdet/runs/polyp-yolov8n",
        help="checkpoints; an interrupted run here resumes",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this .pt or YOLOv8n .onnx, e.g. a shipped model (default: the shared COCO int8 ONNX)",
    )
    parser.add_argument(
        "--blend-init",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="install SHARE x the --init ONNX's weights + (1 - SHARE) x the trained ones (polypdet.train.blend)",
    )
    parser.add_argument("--name", default="polyp-yolov8n", help="installed model name")
    parser.add_argument("--version", dest="model_version", default="1.1.0", help="installed model version")
    parser.add_argument("--models-dir", type=Path, default=None, help="where to install (default models/)")
    parser.add_argument("--threads", type=int, default=None)
    defaults = TrainRecipe()
    for f in fields(TrainRecipe):
        value = getattr(defaults, f.name)
        kind = (lambda s: s.lower() in {"1", "true", "yes"}) if isinstance(value, bool) else type(value)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=value, help=f"(default {value})"
        )


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.quantize import add_int8
    from polypdet.engine.models import models_dir
    from polypdet.train.blend import blend_onnx
    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.install import install_model
    from polypdet.train.prepare import prepare_data
    from polypdet.train.trainer import TrainRecipe, train

    if not 0.0 <= args.blend_init <= 1.0:
        raise CliError(f"--blend-init is a share between 0 and 1, got {args.blend_init}")
    if args.blend_init and (args.init is None or args.init.suffix != ".onnx"):
        raise CliError("--blend-init needs the ONNX model training starts from (--init MODEL.onnx)")
    if args.blend_init and (args.class_width or args.box_width):
        raise CliError("--blend-init needs the start's head: it cannot blend with --class-width or --box-width")
    source = args.source or default_data_root()
    prepared = prepare_data(source, args.prepared or default_prepared())
    recipe = TrainRecipe(**{f.name: getattr(args, f.name) for f in fields(TrainRecipe)})
    init = args.init or source / "weights" / "coco-yolov8n-int8.onnx"
    try:
        last = train(prepared.data_yaml, args.run_dir, init, recipe, args.threads)
    except ValueError as error:  # a start that is not a YOLOv8n export, a head that cannot be pruned that wide
        raise CliError(str(error)) from None
    onnx = onnx_from_checkpoint(last, recipe.imgsz, args.run_dir / "weights" / "last.onnx")
    if args.blend_init:
        onnx = blend_onnx(init, onnx, args.blend_init, args.run_dir / "weights" / "blended.onnx")
    card: dict[str, Any] = {
        "name": args.name,
        "version": args.model_version,
        "input_size": recipe.imgsz,
        "classes": ["polyp"],
        "architecture": "YOLOv8n (ultralytics), 1 class, "
        + _head(recipe)
        + "exported to ONNX opset 17 with dynamic input size",
        "intended_use": (
            "Computer-aided detection of colorectal polyps in white-light colonoscopy frames, as a second reader "
            "for an endoscopist. Not a diagnostic device; not for classification (adenoma vs hyperplastic)."
        ),
        "limitations": (
            "Trained on two public single-centre datasets (Kvasir-SEG, Norway; CVC-ClinicDB, Barcelona); "
            "not validated prospectively or on narrow-band imaging. Flat and very small polyps are the usual misses."
        ),
        "training": {
            "start": str(args.init)
            if args.init
            else "COCO YOLOv8n rebuilt from shared/data/weights/coco-yolov8n-int8.onnx",
            "data": {
                "train": f"{prepared.train} images: Kvasir-SEG minus held-out + CVC-ClinicDB train",
                "held_out": prepared.holdout,
            },
            "recipe": asdict(recipe),
            "weights": "last epoch (no selection on the held-out sets)"
            + (f", blended with the start's ({args.blend_init:g} of each weight)" if args.blend_init else ""),
            "command": " ".join(["polypdet", "train", *sys.argv[2:]]).strip(),
        },
    }
    info = add_int8(install_model(onnx, args.models_dir or models_dir(), card), prepared.data_yaml.parent)
    print(f"installed {info.model_version} at {info.onnx_path.parent}")
    print(yaml.safe_dump({"metrics": info.card["metrics"]}, sort_keys=False))
    return 0


def _head(recipe: TrainRecipe) -> str:
    """The card's words for a head pruned narrower than the start's (``--class-width``, ``--box-width``)."""
    pairs = (("class", recipe.class_width), ("box", recipe.box_width))
    chosen = [f"{kind} branch {width} wide" for kind, width in pairs if width]
    return f"detect head pruned to a {' and a '.join(chosen)}, " if chosen else ""
