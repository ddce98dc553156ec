"""What every cache offers: async get/set of JSON-able dicts that never raise."""

from __future__ import annotations

from typing import Any, Protocol


class ResultCache(Protocol):
    name: str

    async def get(self, key: str) -> dict[str, Any] | None:
        """The cached value, or ``None`` on a miss or any cache failure."""
        ...

    async def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value``; failures are logged and swallowed."""
        ...

    async def close(self) -> None: ...
