"""The rule that decides whether a model's int8 weights are served by default."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from polypdet.engine.models import resolve_model
from polypdet.train.quantize import calibration_images, int8_within_tolerance


def _held_out(map50: float, map50_95: float, int8: tuple[float, float]) -> dict[str, object]:
    return {"map50": map50, "map50_95": map50_95, "openvino_int8": {"map50": int8[0], "map50_95": int8[1]}}


def test_int8_is_served_only_within_the_tolerance_on_every_set() -> None:
    close = _held_out(0.93, 0.73, (0.925, 0.726))
    assert int8_within_tolerance({"conf": 0.25, "kvasir_holdout": close, "clinicdb_holdout": close})
    assert int8_within_tolerance({"kvasir_holdout": _held_out(0.93, 0.73, (0.94, 0.74))})  # better is fine
    lost_box_quality = _held_out(0.93, 0.73, (0.93, 0.7249))
    assert not int8_within_tolerance({"kvasir_holdout": close, "clinicdb_holdout": lost_box_quality})
    assert not int8_within_tolerance({"kvasir_holdout": _held_out(0.99, 0.77, (0.975, 0.77))})
    assert not int8_within_tolerance({"conf": 0.25})  # nothing measured, nothing served


def test_calibration_images_spread_over_the_sorted_list() -> None:
    names = [Path(f"img{i:04d}.jpg") for i in range(1000)]
    picked = calibration_images(list(reversed(names)), 300)
    assert len(picked) == 300 and picked == sorted(picked)
    assert picked[0] == names[0] and picked[-1] == names[897]
    assert calibration_images(names[:10], 300) == names[:10]


def test_the_shipped_int8_weights_quantise_each_activation_after_it() -> None:
    """Quantisers inside x * sigmoid(x) keep OpenVINO from folding activation and quantiser into the convolution."""
    ov = pytest.importorskip("openvino")
    model = ov.Core().read_model(str(resolve_model().int8_path))
    types = Counter(op.get_type_name() for op in model.get_ordered_ops())
    feeds = {
        (op.get_type_name(), target.get_node().get_type_name())
        for op in model.get_ordered_ops()
        for output in op.outputs()
        for target in output.get_target_inputs()
    }
    assert types["Swish"] > 50 and types["FakeQuantize"] > 50
    assert ("FakeQuantize", "Sigmoid") not in feeds and ("FakeQuantize", "Swish") not in feeds
    assert ("Swish", "FakeQuantize") in feeds
