import numpy as np
import pytest

from polypdet.detections import Detections
from polypdet.evaluation.metrics import bootstrap_maps, evaluate


def test_perfect_predictions() -> None:
    truths = [np.array([[10, 10, 110, 110]], np.float32), np.array([[50, 50, 150, 100]], np.float32)]
    preds = [Detections(xyxy=t, confidence=[0.9]) for t in truths]
    result, curves = evaluate(truths, preds, conf=0.25)
    assert result.map50 == pytest.approx(1.0) and result.map50_95 == pytest.approx(1.0)
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert curves is not None and curves.precision.max() == pytest.approx(1.0)


def test_hand_counted_precision_recall() -> None:
    truths = [np.array([[0, 0, 100, 100]], np.float32), np.array([[0, 0, 50, 50], [60, 60, 100, 100]], np.float32)]
    preds = [
        Detections(xyxy=[[0, 0, 100, 100], [200, 200, 220, 220]], confidence=[0.9, 0.6]),  # TP + FP
        Detections(xyxy=[[0, 0, 50, 50], [60, 60, 100, 100]], confidence=[0.8, 0.1]),  # TP; 2nd below conf
    ]
    result, _ = evaluate(truths, preds, conf=0.25)
    assert result.precision == pytest.approx(2 / 3) and result.recall == pytest.approx(2 / 3)
    assert result.instances == 3 and result.images == 2


def test_no_predictions_at_all() -> None:
    result, curves = evaluate([np.array([[0, 0, 10, 10]], np.float32)], [Detections.empty()], conf=0.25)
    assert result.map50 == 0.0 and result.recall == 0.0 and curves is None


def test_bootstrap_intervals() -> None:
    truths = [np.array([[0, 0, 100, 100]], np.float32) for _ in range(20)]
    perfect = [Detections(xyxy=t, confidence=[0.9]) for t in truths]
    assert bootstrap_maps(truths, perfect, 30) == {"map50": (1.0, 1.0), "map50_95": (1.0, 1.0)}
    half = perfect[:10] + [Detections(xyxy=[[300, 300, 400, 400]], confidence=[0.9])] * 10
    result, _ = evaluate(truths, half, conf=0.25)
    intervals = bootstrap_maps(truths, half, 200)
    assert intervals == bootstrap_maps(truths, half, 200)  # seeded: the same figures every run
    for name, point in (("map50", result.map50), ("map50_95", result.map50_95)):
        low, high = intervals[name]
        assert low < point < high and high - low > 0.1


def test_paired_bootstrap_of_a_difference() -> None:
    truths = [np.array([[0, 0, 100, 100]], np.float32) for _ in range(20)]
    perfect = [Detections(xyxy=t, confidence=[0.9]) for t in truths]
    half = perfect[:10] + [Detections(xyxy=[[300, 300, 400, 400]], confidence=[0.9])] * 10
    assert bootstrap_maps(truths, half, 50, baseline=half) == {"map50": (0.0, 0.0), "map50_95": (0.0, 0.0)}
    better = bootstrap_maps(truths, perfect, 200, baseline=half)
    worse = bootstrap_maps(truths, half, 200, baseline=perfect)
    for name in ("map50", "map50_95"):
        assert 0 < better[name][0] < 0.5 < better[name][1] <= 1  # half the images found: +0.5 on the whole set
        assert worse[name] == pytest.approx((-better[name][1], -better[name][0]))  # the same draws, reversed
