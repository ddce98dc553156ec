"""Rebuild an ultralytics YOLOv8n checkpoint from the shipped int8 COCO ONNX file.

The ONNX file holds batch-norm-folded convolutions quantised per tensor. Dequantised, they give the
weights of ultralytics' ``yolov8n.yaml`` model; each folded bias becomes the batch-norm bias with an
identity normalisation (weight 1, mean 0, variance 1 - eps), so the rebuilt network computes the same
function and can be fine-tuned like ``yolov8n.pt``. Needs the ``train`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _onnx_tensors(onnx_path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _dequantised(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    q = tensors[f"{name}_quantized"].astype(np.float32)
    zero = tensors[f"{name}_zero_point"].astype(np.float32)
    return ((q - zero) * tensors[f"{name}_scale"].astype(np.float32)).astype(np.float32)


def build_coco_checkpoint(onnx_path: Path, out_path: Path) -> Path:
    """Write an ultralytics checkpoint (``.pt``) with the ONNX file's COCO weights."""
    import torch
    from ultralytics import YOLO

    tensors = _onnx_tensors(onnx_path)
    yolo = YOLO("yolov8n.yaml")
    net: Any = yolo.model
    state = net.state_dict()
    filled = 0
    for key in list(state):
        if key.endswith("dfl.conv.weight"):
            continue  # fixed arange kernel, not learned
        if key.endswith(".conv.weight") and f"{key}_quantized" in tensors:
            state[key] = torch.from_numpy(_dequantised(tensors, key))
            prefix = key[: -len(".conv.weight")]
            bias = torch.from_numpy(tensors[f"{prefix}.conv.bias"].astype(np.float32))
            bn_eps = 1e-3
            state[f"{prefix}.bn.weight"] = torch.ones_like(bias)
            state[f"{prefix}.bn.bias"] = bias
            state[f"{prefix}.bn.running_mean"] = torch.zeros_like(bias)
            state[f"{prefix}.bn.running_var"] = torch.full_like(bias, 1.0 - bn_eps)
            filled += 1
        elif key.endswith(".weight") and f"{key}_quantized" in tensors:
            state[key] = torch.from_numpy(_dequantised(tensors, key))
            state[key[: -len("weight")] + "bias"] = torch.from_numpy(
                tensors[key[: -len("weight")] + "bias"].astype(np.float32)
            )
            filled += 1
    if filled != 63:
        raise ValueError(f"expected 63 convolutions from {onnx_path}, filled {filled}")
    net.load_state_dict(state)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 1e-3
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": net.half(), "train_args": {}, "epoch": -1, "optimizer": None, "date": None},
        out_path,
    )
    return out_path
