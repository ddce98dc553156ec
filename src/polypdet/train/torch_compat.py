"""Make ultralytics importable beside the CPU torch wheel.

The registry's torchvision 0.28.0 is a CUDA build: next to the CPU torch its C++ operators are missing
and ``import torchvision`` fails with ``operator torchvision::nms does not exist``. ultralytics needs only
``nms``, so a CPU implementation of that one operator is registered before torchvision is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    import torch

    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep: list[int] = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-12)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def prepare_ultralytics(threads: int | None = None) -> None:
    """Register the missing operator, keep ultralytics offline, and set torch's thread count."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path.home() / ".cache" / "polypdet" / "ultralytics"))
    import torch

    if not _KEEP_ALIVE and not _torchvision_ops_load():
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):  # torchvision registers fake kernels for both at import
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.impl(op, _nms, "CPU")
        _KEEP_ALIVE.append(lib)
        import torchvision.extension

        torchvision.extension._has_ops = lambda: True  # torchvision.ops.nms asserts this first
    import ultralytics.utils.torch_utils

    # ultralytics trains on cpu_count - 1 threads (1 on a 2-core machine) and resets torch to that when it
    # selects the device: give it every core instead.
    count = threads or os.cpu_count() or 1
    ultralytics.utils.torch_utils.NUM_THREADS = count
    torch.set_num_threads(count)


def _torchvision_ops_load() -> bool:
    """True when torchvision's own compiled operators load beside this torch."""
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for lib in Path(folder).glob("_C*.so"):
            try:
                torch.ops.load_library(str(lib))
                return True
            except (OSError, RuntimeError):
                return False
    return False


_KEEP_ALIVE: list[object] = []


def bf16_forward_available() -> bool:
    """True where torch computes bf16 convolutions natively on this CPU (AMX or AVX-512 BF16)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def forward_in_bf16() -> None:
    """Run ultralytics' training forward pass under torch's CPU bf16 autocast, and its loss in fp32.

    ultralytics offers bf16 only on CUDA. On a CPU with AMX, the forward and backward convolutions in bf16 take
    half the time of fp32 (1.07 -> 0.55 s for a batch of 16 at 320 px); weights, optimizer and EMA stay fp32, and the
    predictions are cast back to fp32 before the loss, so box assignment and IoU losses keep full precision.
    """
    import torch
    from torch.utils._pytree import tree_map
    from ultralytics.nn.tasks import BaseModel

    if getattr(BaseModel.loss, "polypdet_bf16", False):
        return
    original = BaseModel.loss

    def loss(self: BaseModel, batch: dict[str, Any], preds: Any = None) -> Any:
        if preds is None and self.training:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                preds = self.forward(batch["img"])
            preds = tree_map(lambda t: t.float() if torch.is_tensor(t) and t.is_floating_point() else t, preds)
        return original(self, batch, preds)

    loss.polypdet_bf16 = True  # type: ignore[attr-defined]
    BaseModel.loss = loss
