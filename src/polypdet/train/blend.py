"""Blend a fine-tuned model's weights with those of the model it started from (a weight-space ensemble).

A second stage that teaches a model one new thing (blank frames are not polyps) also drifts from what it
knew. Interpolating every weight between the start and the fine-tuned end, as WiSE-FT does (Wortsman et al.,
2022), keeps most of the new lesson and most of the old robustness: both ends share one training trajectory,
so the points between them are good models too. Works on the ONNX exports (convolutions with batch norm folded),
which must be the same network: same graph, same tensor names and shapes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polypdet.train.pretrained import onnx_tensors


def blend_onnx(start: Path, tuned: Path, start_share: float, out: Path) -> Path:
    """Write ``tuned``'s graph with every float weight ``start_share * start + (1 - start_share) * tuned``."""
    import onnx
    from onnx import numpy_helper

    if not 0.0 <= start_share <= 1.0:
        raise ValueError(f"the start's share must lie in [0, 1], not {start_share}")
    start_weights = onnx_tensors(start)
    model = onnx.load(str(tuned))
    for tensor in model.graph.initializer:
        weight = numpy_helper.to_array(tensor)
        other = start_weights.get(tensor.name)
        if other is None or other.shape != weight.shape:
            raise ValueError(f"{start} and {tuned} are not the same network (tensor {tensor.name})")
        if np.issubdtype(weight.dtype, np.floating):
            mixed = start_share * other.astype(np.float64) + (1.0 - start_share) * weight.astype(np.float64)
            tensor.CopyFrom(numpy_helper.from_array(mixed.astype(weight.dtype), tensor.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
