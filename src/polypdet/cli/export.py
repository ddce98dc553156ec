"""``polypdet export``: other formats from a model, with a parity check where the format runs here."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from polypdet.cli.main import CliError

FORMATS = ["onnx", "openvino", "coreml", "tflite", "engine"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--weights", dest="model", default=None, help="source model (.pt, .onnx or name)")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--out", type=Path, default=Path("exports"), help="output folder (default ./exports)")
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument(
        "--check-images",
        type=Path,
        default=None,
        help="folder of images for the parity check (default: a few held-out ones)",
    )


def _check_images(folder: Path | None) -> list[Path]:
    from polypdet.cli.prepare import default_data_root
    from polypdet.io.datasets import image_files

    root = folder or default_data_root() / "cvc-clinicdb" / "images" / "val"
    files = image_files(root)[:12] if root.is_dir() else []
    if not files:
        raise CliError(f"no images for the parity check in {root} (give --check-images)")
    return files


def run(args: argparse.Namespace) -> int:
    from polypdet.detections import Detections
    from polypdet.engine.backends import BackendName
    from polypdet.engine.detector import Detector, DetectParams, InputSizeError, check_input_size
    from polypdet.engine.models import resolve_model
    from polypdet.train.export import (
        NOT_CHECKED,
        NOT_RUNNABLE,
        ExportError,
        coreml_export,
        images_for_parity,
        openvino_from_onnx,
        parity,
        static_onnx,
        tflite_from_onnx,
        ultralytics_detections,
    )

    if args.format in NOT_RUNNABLE:
        raise CliError(f"{args.format}: cannot be produced and checked on this machine: {NOT_RUNNABLE[args.format]}")
    try:
        source = resolve_model(args.model)
    except (FileNotFoundError, ExportError) as error:
        raise CliError(str(error)) from None
    try:
        size = check_input_size(args.imgsz or source.input_size)
    except InputSizeError as error:
        raise CliError(str(error)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = Path(args.model) if str(args.model or "").endswith(".pt") else None
    name = checkpoint.stem if checkpoint else source.name
    params = DetectParams(conf=0.1)
    try:
        if args.format == "coreml":
            target = coreml_export(checkpoint or source.onnx_path, args.out / f"{name}.mlpackage", size)
            print(f"wrote {target}")
            print(f"parity not checked: {NOT_CHECKED['coreml']}")
            return 0
        images = images_for_parity(_check_images(args.check_images))

        def boxes(model_file: Path, backend: BackendName) -> list[Detections]:
            """``model_file`` (in place of the source's ONNX) on the check images."""
            model = replace(source, onnx_path=model_file)
            detector = Detector(model, backend=backend, precision="f32", imgsz=size, crop_margins=False)
            return detector.detect_batch(images, params)

        if args.format == "onnx":
            target = args.out / f"{name}.onnx"
            shutil.copyfile(source.onnx_path, target)
            if checkpoint is None:
                print(f"wrote {target} (the model already is ONNX: nothing to check)")
                return 0
            reference = ultralytics_detections(checkpoint, images, size, conf=params.conf)
            exported = boxes(source.onnx_path, "onnxruntime")
        elif args.format == "openvino":
            reference = boxes(source.onnx_path, "onnxruntime")
            target = openvino_from_onnx(source.onnx_path, args.out / f"{name}_openvino")
            exported = boxes(target, "openvino")
        else:  # tflite: its input is fixed, so it is checked against the ONNX model fixed at the same input
            with tempfile.TemporaryDirectory(prefix="polypdet-export-") as scratch:
                static = static_onnx(source.onnx_path, size, Path(scratch) / f"{name}.onnx")
                reference = boxes(static, "onnxruntime")
                target = tflite_from_onnx(static, args.out / f"{name}.tflite", images)
            exported = boxes(target, "litert")
    except ExportError as error:
        raise CliError(str(error)) from None
    report = parity(reference, exported)
    print(f"wrote {target}")
    if report.compared == 0:
        print(f"parity not checked: no boxes on the {report.images} images (give --check-images with what it finds)")
        return 1
    print(
        f"parity on {report.images} images, {report.compared} boxes compared, "
        f"min IoU {report.min_iou:.4f}, max confidence difference {report.max_conf_diff:.4f}: "
        f"{'OK' if report.ok else 'MISMATCH'}"
    )
    return 0 if report.ok else 1
