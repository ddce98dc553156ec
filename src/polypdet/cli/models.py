"""``polypdet models``: the installed models and which one is the default."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the model cards as JSON")


def run(args: argparse.Namespace) -> int:
    from polypdet.engine.models import DEFAULT_MODEL, installed_models, models_dir

    models = installed_models()
    if args.json:
        print(json.dumps([m.card | {"path": str(m.onnx_path)} for m in models], default=str))
        return 0
    print(f"models in {models_dir()}:")
    for m in models:
        metrics = m.card.get("metrics", {}).get("kvasir_holdout", {})
        score = f"  kvasir mAP50 {metrics['map50']}" if "map50" in metrics else ""
        mark = "*" if m.name == DEFAULT_MODEL else " "
        print(f"{mark} {m.model_version:28} {m.input_size}px  {', '.join(m.class_names)}{score}")
    return 0
