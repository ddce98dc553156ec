"""Rate limits per identity, in memory and in the real Redis (shared between limiter instances)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from polypdet.security.ratelimit import RateLimiter, parse_rate


def hits(limiter: RateLimiter, count: int, *identity: str) -> list[bool]:
    async def run() -> list[bool]:
        return [(await limiter.hit(*identity)).allowed for _ in range(count)]

    return asyncio.run(run())


def test_memory_limit_with_retry_after() -> None:
    limiter = RateLimiter("5/minute")
    assert hits(limiter, 7, "key", "abc") == [True] * 5 + [False] * 2
    decision = asyncio.run(limiter.hit("key", "abc"))
    assert not decision.allowed and 1 <= decision.retry_after_s <= 60 and decision.remaining == 0
    assert hits(limiter, 5, "ip", "10.0.0.1") == [True] * 5  # other identities have their own budget


@pytest.mark.redis
def test_redis_counts_across_instances(redis_url: str) -> None:
    import redis

    prefix = f"polypdet-test-ratelimit-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    try:
        first, second = RateLimiter("4/minute", redis_url, prefix), RateLimiter("4/minute", redis_url, prefix)
        assert hits(first, 3, "key", "abc") == [True] * 3
        assert hits(second, 2, "key", "abc") == [True, False]  # two workers share one budget
        assert hits(first, 1, "key", "abc") == [False]  # and a new event loop finds the same count
        decision = asyncio.run(second.hit("key", "abc"))
        assert not decision.allowed and decision.retry_after_s >= 1
        assert client.keys(f"{prefix}*")
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@pytest.mark.parametrize("text", ["", "lots", "0/minute", "5/fortnight"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)
