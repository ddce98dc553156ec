"""Redis-backed cache shared by all workers; an unreachable Redis is skipped for a while, never fatal."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5.0
"""After a failure, skip Redis this long so an outage costs no latency on every request."""


class RedisCache:
    name = "redis"

    def __init__(self, url: str, ttl_s: int = 3600, prefix: str = "polypdet:result:", timeout_s: float = 0.25) -> None:
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, action: str, error: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_S
        log.warning("redis cache %s failed, skipping it for %.0f s: %s", action, RETRY_AFTER_S, error)

    async def get(self, key: str) -> dict[str, Any] | None:
        if not self._available():
            return None
        try:
            raw = await self._client.get(self.prefix + key)
        except (RedisError, OSError) as error:
            self._failed("get", error)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        if not self._available():
            return
        try:
            await self._client.set(self.prefix + key, json.dumps(value), ex=self.ttl_s)
        except (RedisError, OSError) as error:
            self._failed("set", error)

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
