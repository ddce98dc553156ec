"""Result cache: same image bytes + model version + parameters give the same detections.

Redis when ``REDIS_URL`` is set, else an in-process LRU. A cache never fails a request: on any error it
answers "miss" and the request runs the model.
"""

from polypdet.cache.keys import cache_key
from polypdet.cache.memory import MemoryCache
from polypdet.cache.protocol import ResultCache

__all__ = ["MemoryCache", "ResultCache", "cache_key", "make_cache"]


def make_cache(redis_url: str | None, size: int, ttl_s: int, prefix: str) -> ResultCache:
    """The cache the settings ask for (the Redis client is imported only then: ~15 MB per worker otherwise)."""
    if redis_url:
        from polypdet.cache.redis_cache import RedisCache

        return RedisCache(redis_url, ttl_s=ttl_s, prefix=prefix)
    return MemoryCache(size)
