"""Narrower detect-head branches: pruning keeps what the kept channels compute, and checkpoints keep their widths."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the head's widths need the train extra (torch + ultralytics)")
pytestmark = pytest.mark.train

REPO = Path(__file__).resolve().parents[2]


def _head() -> torch.nn.Module:
    """The head of a randomly initialised one-class YOLOv8n."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    return DetectionModel("yolov8n.yaml", nc=1, verbose=False).model[-1].eval()


def _features() -> list[torch.Tensor]:
    return [torch.randn(1, c, s, s) for c, s in ((64, 8), (128, 4), (256, 2))]


def test_pruning_drops_only_the_channels_that_change_nothing() -> None:
    from polypdet.train.head import branch_widths, prune_head

    head = _head()
    for name, width in (("cv3", 16), ("cv2", 32)):
        for branch in getattr(head, name):
            for layer in branch[:2]:  # silence every channel past the first `width`: SiLU(0 * x + 0) = 0
                layer.bn.weight.data[width:] = 0
                layer.bn.bias.data[width:] = 0
                layer.bn.weight.data[:width] = 1 + torch.rand(width)  # and keep the others clearly important
    features = _features()
    with torch.no_grad():
        before = head([f.clone() for f in features])[0]
        prune_head(head, 16, 32)
        after = head([f.clone() for f in features])[0]
    assert branch_widths(head) == (16, 32)
    torch.testing.assert_close(after, before)


def test_pruning_cannot_widen() -> None:
    from polypdet.train.head import prune_head

    with pytest.raises(ValueError, match="cannot widen"):
        prune_head(_head(), 128, 0)


def test_a_checkpoint_rebuilt_from_onnx_keeps_a_narrow_head(tmp_path: Path) -> None:
    """A pruned export, rebuilt by ``build_checkpoint`` (the ultralytics contestant, the parity tests), computes what
    the export does: same widths, same outputs."""
    import onnxruntime as ort
    from ultralytics import YOLO

    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.head import branch_widths, prune_checkpoint
    from polypdet.train.pretrained import build_checkpoint

    wide = build_checkpoint(REPO / "models/polyp-yolov8n/model.onnx", tmp_path / "wide.pt")
    narrow = prune_checkpoint(wide, 8, 16, tmp_path / "narrow.pt")
    narrow_onnx = onnx_from_checkpoint(narrow, 64, tmp_path / "narrow.onnx")
    rebuilt = YOLO(str(build_checkpoint(narrow_onnx, tmp_path / "rebuilt.pt"))).model.float().eval()
    assert branch_widths(rebuilt.model[-1]) == (8, 16)
    image = torch.rand(1, 3, 64, 96)
    session = ort.InferenceSession(str(narrow_onnx), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: image.numpy()})[0]
    with torch.no_grad():
        got = rebuilt(image)[0].numpy()
    assert abs(got - expected).max() < 1e-2
