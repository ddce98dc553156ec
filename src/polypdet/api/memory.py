"""Keep a serving process's memory flat: glibc allocator settings for many threads and image-sized buffers."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
"""Every thread that allocates may otherwise get its own 64 MB arena, kept after the burst that made it."""
MMAP_THRESHOLD = 128 * 1024
"""Image and tensor buffers above this come from mmap and go back to the system when freed (glibc would
otherwise raise its threshold after the first frees and keep such buffers in the heap)."""


def tune_allocator() -> bool:
    """Apply the settings through ``mallopt``; False where the C library is not glibc (they are only savings)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no mallopt here: allocator left as it is")
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
