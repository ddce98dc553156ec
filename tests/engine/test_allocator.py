import platform

import pytest

from polypdet.engine.allocator import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_arena_limit_is_applied_on_glibc() -> None:
    assert tune_allocator() is True
