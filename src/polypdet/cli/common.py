"""Options and helpers shared by the commands that run a model."""

from __future__ import annotations

import argparse
import glob
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from polypdet.engine.backends import Hint
    from polypdet.engine.detector import Detector


def add_model_arguments(parser: argparse.ArgumentParser, conf: float = 0.25) -> None:
    parser.add_argument(
        "--model",
        "--weights",
        dest="model",
        default=None,
        help="model folder, name, .onnx or .pt (default: MODEL_PATH or the shipped model)",
    )
    parser.add_argument("--conf", type=float, default=conf, help=f"confidence threshold (default {conf})")
    parser.add_argument(
        "--imgsz", type=int, default=None, help="network input size, a multiple of 32 (default: the model's)"
    )
    parser.add_argument("--backend", choices=["auto", "openvino", "onnxruntime"], default="auto")
    parser.add_argument(
        "--precision",
        choices=["auto", "int8", "f32", "bf16"],
        default="auto",
        help="OpenVINO weights (default auto: the int8 IR where the model card serves it by default; onnxruntime: f32)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.add_argument(
        "--keep-margins",
        action="store_true",
        help="run on the whole frame, black margins included, as ultralytics does (default: the picture only)",
    )


def load_detector(args: argparse.Namespace, hint: Hint = "latency", model: str | None = None) -> Detector:
    """The detector the options ask for; ``model`` instead of ``--model`` loads another one the same way."""
    from polypdet.engine.backends import BackendError
    from polypdet.engine.detector import Detector, InputSizeError
    from polypdet.engine.models import ModelNotFoundError

    if not 0.0 <= args.conf <= 1.0:
        raise CliError(f"--conf must be between 0 and 1, got {args.conf}")
    try:
        return Detector(
            model or args.model,
            args.backend,
            args.threads,
            args.precision,
            hint,
            args.imgsz,
            crop_margins=not args.keep_margins,
        )
    except (ModelNotFoundError, BackendError, InputSizeError) as error:
        raise CliError(str(error)) from None


def expand_inputs(specs: Iterable[str], suffixes: frozenset[str]) -> list[Path]:
    """Files, folders (recursively, by suffix) and globs, in the order given; unknown paths kept for errors."""
    paths: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        elif any(ch in spec for ch in "*?[") and not path.exists():
            paths += sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        else:
            paths.append(path)
    return paths
