"""The detect head's branch widths: ultralytics takes them from the backbone; here they can be narrower.

At each scale a YOLOv8 ``Detect`` head has a class branch and a box branch, each two 3x3 convolutions and a 1x1
one. ultralytics makes the class branch ``max(64, min(classes, 100))`` wide (80 after a COCO start) and the box
branch 64: 41 % of YOLOv8n's arithmetic at 320 px for one class. Narrower branches cost less
(``benchmarks/head_width.py``); :func:`prune_head` makes them from trained ones, and :func:`head_keeping_trainer`
trains a model without ultralytics rebuilding its head at the default widths. Needs the ``train`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def branch_widths(detect: Any) -> tuple[int, int]:
    """The inner widths ``(class, box)`` of a ``Detect`` head's branches."""
    return detect.cv3[0][0].conv.out_channels, detect.cv2[0][0].conv.out_channels


def resize_head(detect: Any, class_width: int, box_width: int) -> None:
    """Give ``detect`` freshly initialised branches of these inner widths where its own differ (0: keep)."""
    from torch import nn
    from ultralytics.nn.modules import Conv

    inputs = [branch[0].conv.in_channels for branch in detect.cv2]

    def branches(width: int, outputs: int) -> nn.ModuleList:
        return nn.ModuleList(
            nn.Sequential(Conv(c, width, 3), Conv(width, width, 3), nn.Conv2d(width, outputs, 1)) for c in inputs
        )

    now_class, now_box = branch_widths(detect)
    if class_width not in (0, now_class):
        detect.cv3 = branches(class_width, detect.nc)
    if box_width not in (0, now_box):
        detect.cv2 = branches(box_width, 4 * detect.reg_max)


def prune_head(detect: Any, class_width: int, box_width: int) -> None:
    """Narrow a trained head's branches to these inner widths (0: keep), keeping its most important channels.

    A channel's importance is its batch norm's scale times the L1 norm of the weights that read it in the next
    layer: a channel that is small, or that the next layer hardly reads, changes the output least when dropped.
    What is left is a start for fine-tuning, not a finished model.
    """
    for name, width in (("cv3", class_width), ("cv2", box_width)):
        for branch in getattr(detect, name) if width else ():
            if width > branch[0].conv.out_channels:
                raise ValueError(f"cannot widen the head's {name} branch to {width}")
            _prune_branch(branch, width)


def prune_checkpoint(start: Path, class_width: int, box_width: int, out: Path) -> Path:
    """Write the ultralytics checkpoint ``start`` with its head pruned to these widths (:func:`prune_head`)."""
    from ultralytics import YOLO

    yolo = YOLO(str(start))
    yolo.model.float()
    prune_head(yolo.model.model[-1], class_width, box_width)
    yolo.save(out)
    return out


def _prune_branch(branch: Any, width: int) -> None:
    first, second, last = branch
    kept_first = _most_read(first, second.conv.weight, width)
    kept_second = _most_read(second, last.weight, width)
    _keep_outputs(first, kept_first)
    second.conv.weight.data = second.conv.weight.data[:, kept_first]
    second.conv.in_channels = width
    _keep_outputs(second, kept_second)
    last.weight.data = last.weight.data[:, kept_second].contiguous()
    last.in_channels = width


def _most_read(layer: Any, next_weight: Any, width: int) -> Any:
    """Indices (ascending) of ``layer``'s ``width`` output channels that matter most to the next layer."""
    importance = layer.bn.weight.detach().abs() * next_weight.detach().abs().sum(dim=(0, 2, 3))
    return importance.topk(width).indices.sort().values


def _keep_outputs(layer: Any, kept: Any) -> None:
    """Keep only the ``kept`` output channels of a Conv(+BatchNorm) layer."""
    layer.conv.weight.data = layer.conv.weight.data[kept].contiguous()
    layer.conv.out_channels = len(kept)
    bn = layer.bn
    for tensor in (bn.weight, bn.bias):
        tensor.data = tensor.data[kept].contiguous()
    bn.running_mean = bn.running_mean[kept].contiguous()
    bn.running_var = bn.running_var[kept].contiguous()
    bn.num_features = len(kept)


def head_keeping_trainer() -> type:
    """ultralytics' detection trainer, except that the model it builds keeps the branch widths of the weights it
    starts or resumes from (ultralytics would rebuild a narrow box branch at 64 and drop its weights)."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    class HeadKeepingTrainer(DetectionTrainer):  # type: ignore[misc]
        def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> Any:
            model = super().get_model(cfg, None, verbose)
            if weights is not None:
                source = (weights.get("ema") or weights["model"]) if isinstance(weights, dict) else weights
                resize_head(model.model[-1], *branch_widths(source.model[-1]))
                model.load(weights)
            return model

    return HeadKeepingTrainer
