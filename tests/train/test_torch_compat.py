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
