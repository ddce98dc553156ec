"""Keep a process's memory flat: at most two glibc malloc arenas, however many threads allocate (applied by
:func:`polypdet.engine.backends.load_backend`, so in the service and in every process that runs a model)."""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8
ARENAS = 2
"""Every thread that allocates may otherwise get an arena of its own, kept after the burst that made it
(measured: ~10 MB less at peak, both for the service under load and for OpenVINO one image at a time; no change in
latency). A lower mmap threshold saved ~10 MB more but tripled P95 latency (page faults on every image buffer), so
it stays glibc's."""


def tune_allocator() -> bool:
    """Apply the setting through ``mallopt``; False where the C library has none (it is only a saving)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    return bool(mallopt(M_ARENA_MAX, ARENAS)) if mallopt is not None else False
