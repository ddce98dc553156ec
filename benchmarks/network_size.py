#!/usr/bin/env python3
"""Would a smaller network than YOLOv8n bring polypdet nearer to 1/3 of ultralytics' time? A timing, not a model.

The latency goal compares polypdet and ultralytics on the same weights, so a smaller network speeds up ultralytics
too. This builds YOLOv8 at several widths (random weights: only their arithmetic matters here), saves each as an
ultralytics checkpoint, exports it to ONNX as the shipped models are, and times one 320x256 input on each, all
variants and runtimes taking turns in rounds:

- ``torch``: the fused network, as ``YOLO.predict`` runs it (2 threads);
- ``openvino-f32`` and, on a CPU with bf16, ``openvino-bf16``: polypdet's backend with uint8 pixels in.

``network_ratio`` is OpenVINO's time over torch's. End to end (``latency.py``) both add the steps outside the
network (reading the file, letterbox, boxes), which do not shrink with the network.

Run: ``.venv/bin/python benchmarks/network_size.py`` (needs the train extra; about two minutes); writes
``benchmarks/results/network_size.json``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timing import arguments, openvino_inference, precisions_here, time_in_turns, write_report

WIDTHS = {"width 0.125": 0.125, "width 0.1875": 0.1875, "YOLOv8n (0.25)": 0.25, "YOLOv8s (0.5)": 0.5}
"""ultralytics' width multiple of each variant (depth stays YOLOv8n/s's 0.33)."""
HEIGHT, WIDTH = 256, 320


def build_checkpoint(width: float, out: Path) -> Path:
    """A one-class YOLOv8 ``width`` wide, randomly initialised, saved as an ultralytics checkpoint."""
    import ultralytics
    import yaml
    from ultralytics import YOLO

    config = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    config |= {"nc": 1, "scales": {"x": [0.33, width, 1024]}, "scale": "x"}
    out.with_suffix(".yaml").write_text(yaml.safe_dump(config))
    YOLO(str(out.with_suffix(".yaml"))).save(out)
    return out


def contestants(pt: Path, onnx: Path, threads: int, precisions: list[str]) -> dict[str, Callable[[], Any]]:
    """One inference of the network in ``pt`` / ``onnx`` on each runtime, as a callable."""
    import torch
    from ultralytics import YOLO

    net = YOLO(str(pt)).model.float().fuse(verbose=False).eval()
    tensor = torch.rand(1, 3, HEIGHT, WIDTH)

    def run_torch() -> Any:
        with torch.inference_mode():
            return net(tensor)

    runs: dict[str, Callable[[], Any]] = {"torch": run_torch}
    for precision in precisions:
        runs[f"openvino-{precision}"] = openvino_inference(onnx, threads, precision, HEIGHT, WIDTH)
    return runs


def main() -> int:
    parser = arguments(__doc__, "network_size")
    args = parser.parse_args()

    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.torch_compat import prepare_ultralytics

    prepare_ultralytics(args.threads)
    precisions = precisions_here()
    runs: dict[str, Callable[[], Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, width) in enumerate(WIDTHS.items()):
            pt = build_checkpoint(width, Path(scratch) / f"{i}.pt")
            onnx = onnx_from_checkpoint(pt, WIDTH, Path(scratch) / f"{i}.onnx")
            for runtime, run in contestants(pt, onnx, args.threads, precisions).items():
                runs[f"{name}|{runtime}"] = run
        ms = time_in_turns(runs)
    results: dict[str, dict[str, float]] = {}
    for key, took in ms.items():
        name, runtime = key.split("|")
        results.setdefault(name, {})[f"{runtime}_ms"] = took
    for figures in results.values():
        for precision in precisions:
            figures[f"network_ratio_{precision}"] = round(figures[f"openvino-{precision}_ms"] / figures["torch_ms"], 3)
    what = f"network only, one {HEIGHT}x{WIDTH} input, random weights; OpenVINO's time over torch's"
    write_report(args.out, what, args.threads, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
