from pathlib import Path

import numpy as np
import onnx
import pytest

from polypdet.train.blend import blend_onnx
from polypdet.train.pretrained import onnx_tensors

REPO = Path(__file__).resolve().parents[2]
START = REPO / "candidates/polyp-yolov8n-1.8.0/model.onnx"  # the shipped model's start and, in part, its weights
TUNED = REPO / "models/polyp-yolov8n/model.onnx"


def test_each_float_weight_is_the_weighted_mean(tmp_path: Path) -> None:
    start, tuned = onnx_tensors(START), onnx_tensors(TUNED)
    blended = onnx_tensors(blend_onnx(START, TUNED, 0.25, tmp_path / "b.onnx"))
    assert blended.keys() == tuned.keys()
    name = "model.22.cv3.0.2.weight"
    assert not np.allclose(start[name], tuned[name])
    for key, weight in blended.items():
        expected = 0.25 * start[key].astype(np.float64) + 0.75 * tuned[key] if weight.dtype.kind == "f" else tuned[key]
        np.testing.assert_allclose(weight, expected, rtol=1e-6, atol=1e-7)


def test_other_networks_and_shares_are_refused(tmp_path: Path) -> None:
    other = onnx.load(str(START))
    other.graph.initializer[0].name = "renamed"
    onnx.save(other, str(tmp_path / "other.onnx"))
    with pytest.raises(ValueError, match="not the same network"):
        blend_onnx(tmp_path / "other.onnx", TUNED, 0.5, tmp_path / "b.onnx")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        blend_onnx(START, TUNED, 1.5, tmp_path / "b.onnx")
