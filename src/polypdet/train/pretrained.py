"""Rebuild an ultralytics YOLOv8n checkpoint from an ONNX export: the int8 COCO start or our own fp32 model.

An exported ONNX file holds batch-norm-folded convolutions (in the COCO file quantised per tensor).
They give the weights of ultralytics' ``yolov8n.yaml`` model; each folded bias becomes the batch-norm bias
with an identity normalisation (weight 1, mean 0, variance 1 - eps), so the rebuilt network computes the
same function. Training, though, normalises each batch by its own statistics, so identity batch norms would
scramble that function at the first step; :func:`calibrate_batch_norm` gives each one the statistics its
convolution really produces on training images (scaled back so that inference still computes the same), and the
fine-tune starts from the exported model rather than from a disrupted copy of it. Needs the ``train`` extra.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polypdet.train.head import resize_head

CALIBRATION_BATCH = 8


def onnx_tensors(onnx_path: Path) -> dict[str, np.ndarray]:
    """Every initializer of an ONNX file, by name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _weight(tensors: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """The float weights called ``name``, dequantised if stored as int8; None if absent."""
    if name in tensors:
        return tensors[name].astype(np.float32)
    if f"{name}_quantized" not in tensors:
        return None
    q = tensors[f"{name}_quantized"].astype(np.float32)
    zero = tensors[f"{name}_zero_point"].astype(np.float32)
    return ((q - zero) * tensors[f"{name}_scale"].astype(np.float32)).astype(np.float32)


def build_checkpoint(onnx_path: Path, out_path: Path, calibration: Sequence[Path] = (), imgsz: int = 320) -> Path:
    """Write an ultralytics checkpoint (``.pt``) with the weights of a YOLOv8n ONNX export.

    With ``calibration`` images, batch norms get their real statistics at ``imgsz`` (see the module's text).
    """
    import torch

    net = rebuild_network(onnx_path)
    if calibration:
        calibrate_batch_norm(net, calibration, imgsz)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": net.half(), "train_args": {}, "epoch": -1, "optimizer": None, "date": None},
        out_path,
    )
    return out_path


def rebuild_network(onnx_path: Path) -> Any:
    """The ultralytics ``DetectionModel`` of a YOLOv8n ONNX export, in fp32, with identity batch norms."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    tensors = onnx_tensors(onnx_path)
    classes = _weight(tensors, "model.22.cv3.0.2.weight")
    boxes = _weight(tensors, "model.22.cv2.0.2.weight")
    if classes is None or boxes is None:
        raise ValueError(f"{onnx_path} is not a YOLOv8n export (no detection head found)")
    net: Any = DetectionModel("yolov8n.yaml", nc=classes.shape[0], verbose=False)
    # the head's branches as wide as the export's: the class branch is 80 after a COCO start, narrower ones exist
    resize_head(net.model[-1], classes.shape[1], boxes.shape[1])
    state = net.state_dict()
    filled = 0
    for key in list(state):
        if key.endswith("dfl.conv.weight"):
            continue  # fixed arange kernel, not learned
        weight = _weight(tensors, key) if key.endswith(".weight") else None
        if weight is None:
            continue
        if key.endswith(".conv.weight"):
            state[key] = torch.from_numpy(weight)
            prefix = key[: -len(".conv.weight")]
            bias = torch.from_numpy(tensors[f"{prefix}.conv.bias"].astype(np.float32))
            bn_eps = 1e-3
            state[f"{prefix}.bn.weight"] = torch.ones_like(bias)
            state[f"{prefix}.bn.bias"] = bias
            state[f"{prefix}.bn.running_mean"] = torch.zeros_like(bias)
            state[f"{prefix}.bn.running_var"] = torch.full_like(bias, 1.0 - bn_eps)
            filled += 1
        else:
            state[key] = torch.from_numpy(weight)
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
    return net


def cached_checkpoint(onnx_path: Path) -> Path:
    """:func:`build_checkpoint` of ``onnx_path`` without calibration, built once per file content (the benchmarks'
    ultralytics contestant)."""
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]
    target = Path.home() / ".cache/polypdet/checkpoints" / f"{onnx_path.stem}-{digest}.pt"
    return target if target.exists() else build_checkpoint(onnx_path, target)


def calibrate_batch_norm(net: Any, images: Sequence[Path], imgsz: int) -> None:
    """Set every identity batch norm after a folded convolution to that convolution's output statistics.

    Per channel, with ``mean`` and ``var`` of the convolution's output ``z`` over ``images``: running
    statistics ``mean``/``var``, weight ``sqrt(var + eps)`` and bias ``b + mean``. In evaluation the layer still
    gives ``z + b``; in training, batches with those statistics give about the same.
    """
    import torch

    from polypdet.engine.preprocess import letterbox, to_input_tensor
    from polypdet.io.images import read_image

    pairs = [
        (m.conv, m.bn)
        for m in net.modules()
        if hasattr(m, "conv") and isinstance(getattr(m, "bn", None), torch.nn.BatchNorm2d)
    ]
    sums: dict[int, list[Any]] = {}

    def collect(index: int) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            z = output.detach().double()
            total = sums.setdefault(index, [0.0, 0.0, 0])
            total[0] = total[0] + z.sum(dim=(0, 2, 3))
            total[1] = total[1] + (z * z).sum(dim=(0, 2, 3))
            total[2] += z.numel() // z.shape[1]

        return hook

    handles = [conv.register_forward_hook(collect(i)) for i, (conv, _) in enumerate(pairs)]
    net.float().eval()
    with torch.no_grad():
        for start in range(0, len(images), CALIBRATION_BATCH):
            chunk = [
                letterbox(read_image(path), (imgsz, imgsz))[0] for path in images[start : start + CALIBRATION_BATCH]
            ]
            net(torch.from_numpy(to_input_tensor(chunk)))
    for handle in handles:
        handle.remove()
    for index, (_, bn) in enumerate(pairs):
        total, squares, count = sums[index]
        mean = total / count
        var = (squares / count - mean * mean).clamp(min=0)
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.data.copy_((var + bn.eps).sqrt().float())
        bn.bias.data.add_(mean.float())
