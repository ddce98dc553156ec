"""The result caches: LRU eviction, real Redis round trips, and a Redis outage that only costs misses."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from polypdet.cache import MemoryCache, cache_key, make_cache
from polypdet.cache.keys import content_hash
from polypdet.cache.redis_cache import RedisCache


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def _key(image: bytes = b"img", model: str = "m@1", **changed: object) -> str:
    settings = {"imgsz": 320, "crop_margins": True, "conf": 0.25, "iou": 0.7, "max_det": 50} | changed
    return cache_key(content_hash(image), model, settings)


def test_key_changes_with_every_input() -> None:
    base = _key()
    variants = {
        _key(b"img2"),
        _key(model="m@2"),
        _key(imgsz=480),
        _key(crop_margins=False),
        _key(conf=0.3),
        _key(iou=0.5),
        _key(max_det=10),
    }
    assert base not in variants and len(variants) == 7


def test_memory_cache_evicts_the_least_recently_used() -> None:
    async def scenario() -> list[object]:
        cache = MemoryCache(size=2)
        await cache.set("a", {"v": 1})
        await cache.set("b", {"v": 2})
        await cache.get("a")  # a is now fresher than b
        await cache.set("c", {"v": 3})
        return [await cache.get(k) for k in ("a", "b", "c")]

    assert run(scenario()) == [{"v": 1}, None, {"v": 3}]


def test_make_cache_picks_redis_only_with_a_url() -> None:
    assert make_cache(None, 10, 60, "p:").name == "memory"
    assert make_cache("redis://127.0.0.1:6379/15", 10, 60, "p:").name == "redis"


@pytest.mark.redis
def test_redis_round_trip_with_ttl_and_prefix(redis_url: str) -> None:
    import redis

    prefix = f"polypdet-test:{uuid.uuid4().hex}:"

    async def scenario() -> tuple[object, object]:
        cache = RedisCache(redis_url, ttl_s=30, prefix=prefix)
        await cache.set("k", {"detections": [], "image_width": 3})
        got, missing = await cache.get("k"), await cache.get("other")
        await cache.close()
        return got, missing

    assert run(scenario()) == ({"detections": [], "image_width": 3}, None)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(prefix + "k") <= 30
    client.delete(prefix + "k")


def test_redis_down_is_a_miss_and_then_skipped() -> None:
    async def scenario() -> tuple[object, bool]:
        cache = RedisCache("redis://127.0.0.1:1/0", prefix="x:")
        await cache.set("k", {"a": 1})  # must not raise
        got = await cache.get("k")
        skipping = not cache._available()
        await cache.close()
        return got, skipping

    assert run(scenario()) == (None, True)
