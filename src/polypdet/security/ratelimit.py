"""Request rate limits per API key and per client IP (``RATE_LIMIT``, e.g. ``600/minute``).

Counted by the ``limits`` library with its sliding-window counter: in Redis when ``REDIS_URL`` is set (shared by
every worker and replica), in process memory otherwise.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

DEFAULT_PREFIX = "polypdet:ratelimit"


def parse_rate(text: str) -> RateLimitItem:
    """``"600/minute"`` (also ``"10 per second"``, ``"5000/hour"``) → a rate; ``ValueError`` otherwise."""
    try:
        item = parse(text)
    except ValueError:
        raise ValueError(f"not a rate like 600/minute: {text!r}") from None
    if item.amount < 1:
        raise ValueError(f"a rate needs at least 1 request: {text!r}")
    return item


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter:
    """One rate for every identity (``("key", prefix)``, ``("ip", address)``); ``hit`` counts and decides."""

    def __init__(self, rate: str, redis_url: str | None = None, prefix: str = DEFAULT_PREFIX) -> None:
        self.rate = parse_rate(rate)
        self.redis_url, self.prefix = redis_url, prefix
        self._memory = None if redis_url else SlidingWindowCounterRateLimiter(MemoryStorage())
        # Async Redis connections belong to the event loop that opened them: one client per loop.
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SlidingWindowCounterRateLimiter]
        self._per_loop = weakref.WeakKeyDictionary()

    def _strategy(self) -> SlidingWindowCounterRateLimiter:
        if self._memory is not None:
            return self._memory
        loop = asyncio.get_running_loop()
        strategy = self._per_loop.get(loop)
        if strategy is None:
            assert self.redis_url is not None
            from limits.aio.storage import RedisStorage

            storage = RedisStorage(
                "async+" + self.redis_url, implementation="redispy", key_prefix=self.prefix, socket_timeout=2
            )
            strategy = self._per_loop[loop] = SlidingWindowCounterRateLimiter(storage)
        return strategy

    async def hit(self, *identity: str) -> RateDecision:
        strategy = self._strategy()
        allowed = await strategy.hit(self.rate, *identity)
        stats = await strategy.get_window_stats(self.rate, *identity)
        retry_after = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
        return RateDecision(allowed, self.rate.amount, stats.remaining, retry_after)
