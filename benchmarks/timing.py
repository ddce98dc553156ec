"""Shared by the benchmarks that time networks, train or score models (``head_width.py``, ``network_size.py``,
``cross_hospital.py``, ``int8_distillation.py``, ``image_shifts.py``): their common arguments, timing in turns, one
inference in polypdet's OpenVINO backend, and the report file."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def arguments(doc: str, result: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with ``--threads`` and ``--out`` (default
    ``benchmarks/results/<result>.json``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / f"{result}.json")
    return parser


def time_in_turns(runs: dict[str, Callable[[], Any]], rounds: int = 8, per_turn: int = 20) -> dict[str, float]:
    """Median milliseconds of each callable, all taking turns of ``per_turn`` calls for ``rounds`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        for _ in range(10):
            run()
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(per_turn):
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def precisions_here() -> list[str]:
    """OpenVINO precisions worth timing on this CPU: f32, and bf16 where the CPU has it."""
    from polypdet.engine.backends import cpu_has_bf16

    return ["f32"] + (["bf16"] if cpu_has_bf16() else [])


def openvino_inference(onnx: Path, threads: int, precision: str, height: int, width: int) -> Callable[[], Any]:
    """One inference of ``onnx`` in polypdet's OpenVINO backend on random ``uint8`` pixels, as a callable."""
    from polypdet.engine.backends import OpenVinoBackend

    backend = OpenVinoBackend(onnx, threads, precision)  # type: ignore[arg-type]
    pixels = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    return lambda: backend.infer(pixels)


def write_report(out: Path, what: str, threads: int, results: dict[str, Any], **extra: Any) -> None:
    """Write ``results`` with what was measured, where and when to ``out`` (JSON), and print them."""
    from polypdet.engine.backends import cpu_name

    report = {
        "what": what,
        **extra,
        "threads": threads,
        "cpu": cpu_name(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(results, indent=2))
