"""The training set-up: ultralytics imports beside the CPU torch and trains on the threads asked for."""

from __future__ import annotations

import pytest

pytest.importorskip("ultralytics", reason="training needs the train extra (torch + ultralytics)")
pytestmark = pytest.mark.train


def test_device_selection_keeps_the_requested_threads() -> None:
    import torch

    from polypdet.train.torch_compat import prepare_ultralytics

    prepare_ultralytics(2)
    from ultralytics.utils.torch_utils import select_device

    select_device("cpu", verbose=False)  # ultralytics resets torch's threads here, to cpu_count - 1 by default
    assert torch.get_num_threads() == 2


def test_torchvision_nms_runs_on_cpu() -> None:
    import torch

    from polypdet.train.torch_compat import prepare_ultralytics

    prepare_ultralytics()
    import torchvision

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]


def test_bf16_forward_keeps_the_loss_in_fp32() -> None:
    import torch

    from polypdet.train.torch_compat import bf16_forward_available, forward_in_bf16, prepare_ultralytics

    if not bf16_forward_available():
        pytest.skip("this CPU has no native bf16: training runs in fp32")
    prepare_ultralytics()
    forward_in_bf16()
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
    model.args = get_cfg()
    model.train()
    conv_dtypes: list[torch.dtype] = []
    model.model[0].conv.register_forward_hook(lambda _m, _i, out: conv_dtypes.append(out.dtype))
    criterion = model.init_criterion()
    seen: list[torch.dtype] = []

    def recording(preds, batch):  # type: ignore[no-untyped-def]
        seen.extend(t.dtype for t in torch.utils._pytree.tree_leaves(preds) if torch.is_tensor(t))
        return criterion(preds, batch)

    model.criterion = recording
    batch = {
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0, 1.0]),
        "cls": torch.tensor([[0.0], [0.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.3], [0.4, 0.6, 0.2, 0.4]]),
    }
    loss, _ = model.loss(batch)
    loss.sum().backward()
    assert conv_dtypes == [torch.bfloat16]  # the convolutions ran in bf16 ...
    assert seen and all(d == torch.float32 for d in seen if d.is_floating_point)  # ... the loss saw fp32
    assert model.model[0].conv.weight.grad.dtype == torch.float32
