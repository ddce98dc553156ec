"""A model's figures on the held-out sets, as its card records them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polypdet.engine.backends import Precision, cpu_has_bf16, cpu_name
from polypdet.engine.detector import Detector
from polypdet.engine.models import ModelInfo
from polypdet.evaluation.metrics import EvalResult
from polypdet.evaluation.run import evaluate_detector
from polypdet.io.datasets import LabeledImage, load_dataset


def holdout_metrics(info: ModelInfo, holdout: Path) -> dict[str, Any]:
    """Score the installed model on each held-out set: fp32 (onnxruntime), and on OpenVINO its int8 weights and,
    on a CPU with bf16, bf16."""
    bf16 = cpu_has_bf16()
    variants: list[Precision] = ["int8"] if info.int8_path else []
    if bf16:
        variants.append("bf16")
    metrics: dict[str, Any] = {
        "conf": 0.25,
        "evaluated_with": "polypdet eval (pycocotools COCO mAP)",
        "measured_on": f"{cpu_name()}, {'with' if bf16 else 'no'} bf16 ({time.strftime('%Y-%m-%d')})",
    }
    for name in sorted(p.name for p in holdout.iterdir()):
        items = load_dataset(holdout / name)
        result, _, _ = evaluate_detector(Detector(info, backend="onnxruntime"), items, 0.25)
        metrics[f"{name}_holdout"] = result.to_json()
        for precision in variants:
            detector = Detector(info, backend="openvino", precision=precision)
            metrics[f"{name}_holdout"][f"openvino_{precision}"] = map_figures(detector, items)
    return metrics


def map_figures(detector: Detector, items: Sequence[LabeledImage]) -> dict[str, float]:
    """mAP50 and mAP50-95 of ``detector`` on ``items`` at the card's confidence, rounded as the card keeps them."""
    return rounded_maps(evaluate_detector(detector, items, 0.25)[0])


def rounded_maps(result: EvalResult) -> dict[str, float]:
    """mAP50 and mAP50-95 of ``result``, rounded as the card keeps them."""
    return {"map50": round(result.map50, 4), "map50_95": round(result.map50_95, 4)}
