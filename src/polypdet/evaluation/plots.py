"""Evaluation plots written as PNG: the precision-recall curve and example predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections
from polypdet.evaluation.metrics import CocoCurves, EvalResult
from polypdet.io.annotate import draw_detections


def plot_pr_curve(curves: CocoCurves, result: EvalResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.plot(curves.recall, curves.precision, lw=2)
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"Polyp PR curve (IoU 0.5), mAP50 {result.map50:.3f}",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_examples(
    images: Sequence[Path],
    truths: Sequence[npt.NDArray[np.float32]],
    predictions: Sequence[Detections],
    out_dir: Path,
    count: int = 8,
) -> list[Path]:
    """Draw ground truth (white) and predictions (green) on the first ``count`` images."""
    from polypdet.io.images import read_image

    written = []
    for path, gt, pred in list(zip(images, truths, predictions, strict=True))[:count]:
        image = read_image(path).copy()
        for x1, y1, x2, y2 in gt.astype(int).tolist():
            cv2.rectangle(image, (x1, y1), (x2, y2), (255, 255, 255), 2)
        target = out_dir / f"example_{path.stem}.png"
        cv2.imwrite(str(target), cv2.cvtColor(draw_detections(image, pred), cv2.COLOR_RGB2BGR))
        written.append(target)
    return written
