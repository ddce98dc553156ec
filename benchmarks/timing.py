"""Timing for the benchmarks that compare runtimes or variants in one process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


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
