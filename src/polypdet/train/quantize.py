"""Post-training int8 quantisation of a YOLOv8 ONNX model for OpenVINO (NNCF), box decoding kept in float.

Every convolution but the first runs in int8. Two parts stay in float (:data:`FLOAT_SCOPE`), each measured on
model 1.1.0's held-out sets: the detection head's tail after its last convolutions (the DFL softmax, the anchor
arithmetic that turns distances into boxes, the class sigmoid), as in ultralytics' own int8 export (quantised,
Kvasir mAP50-95 fell from 0.720 to 0.703); and the first convolution, on the raw image (quantised, CVC-ClinicDB
mAP50 fell from 0.99 to 0.957; in float 0.985). Neither costs measurable speed. The result is an
OpenVINO IR (``.xml`` + ``.bin``): NNCF's int8 ONNX runs correctly on onnxruntime but not on OpenVINO's AVX2
kernels, and the int8 model exists for OpenVINO's speed. Needs the ``train`` extra (``nncf``).

The ONNX file spells SiLU as ``x * sigmoid(x)``. Read as it is, NNCF quantises both inputs of that product and
OpenVINO runs every activation with its quantisers as a separate element-wise kernel. Converted first
(``ov.convert_model`` fuses the product into one ``Swish``), the quantiser sits after the activation and the CPU
plugin folds bias, Swish and quantiser into the convolution: 1.10.0's network ran in 4.3-4.5 ms instead of 5.4 at
320x256 (AMD EPYC with AVX-512, 2026-12-05), as accurate as before (both lose 0.007 mAP50-95 against fp32 on 400
training images outside the calibration set).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FLOAT_SCOPE = (r"/model\.0/.*", r"/model\.22/(?!cv[23]\.).*")
"""The first convolution, and the detect head's nodes outside its convolution branches (``cv2`` boxes, ``cv3``
classes)."""
CALIBRATION_IMAGES = 300
INT8_MAX_LOSS = {"map50": 0.01, "map50_95": 0.005}
"""What the int8 weights may lose against fp32 on every held-out set and still be served by default."""
METHOD = (
    "NNCF post-training quantisation (MIXED preset) of the model as OpenVINO converts it (SiLU fused into Swish) to an "
    "OpenVINO IR; the first convolution, the detect head's box decoding and its class sigmoid kept in float "
    "(polypdet.train.quantize)"
)
RULE = (
    "served by default (--precision auto) only if, on every held-out set, int8 loses at most "
    + " and ".join(f"{loss} {key}" for key, loss in INT8_MAX_LOSS.items())
    + " against fp32; otherwise --precision int8 runs it"
)
"""How the card's ``int8`` entry explains the weights and the rule (:func:`int8_within_tolerance`)."""


def int8_within_tolerance(metrics: dict[str, Any]) -> bool:
    """True when the card's held-out ``metrics`` show int8 within :data:`INT8_MAX_LOSS` of fp32 on every set."""
    sets = [value for key, value in metrics.items() if key.endswith("_holdout")]
    return bool(sets) and all(
        held_out[key] - held_out["openvino_int8"][key] <= loss
        for held_out in sets
        for key, loss in INT8_MAX_LOSS.items()
    )


def calibration_images(train_images: Sequence[Path], count: int = CALIBRATION_IMAGES) -> list[Path]:
    """``count`` training images spread evenly over the sorted list (the held-out sets are never used)."""
    ordered = sorted(train_images)
    return ordered[:: max(1, len(ordered) // count)][:count]


def calibration_tensor(path: Path, imgsz: int) -> npt.NDArray[np.float32]:
    """One calibration image as the ONNX model takes it: letterboxed to an ``imgsz`` square, float NCHW in 0..1."""
    from polypdet.engine.preprocess import letterbox, to_input_tensor
    from polypdet.io.images import read_image

    return to_input_tensor([letterbox(read_image(path), (imgsz, imgsz))[0]])


def quantize_openvino(onnx_path: Path, images: Sequence[Path], imgsz: int, out_xml: Path) -> Path:
    """Write an int8 OpenVINO IR of ``onnx_path`` calibrated on ``images`` letterboxed to ``imgsz``."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(onnx_path))  # x * sigmoid(x) fused into Swish (module doc)
    dataset = nncf.Dataset(list(images), lambda path: calibration_tensor(path, imgsz))
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(patterns=list(FLOAT_SCOPE), validate=False),
    )
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return out_xml
