"""All runtime settings, from the environment (the seed's names) with embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())

    model_path: str | None = Field(default=None, description="model folder, name, .onnx or .pt")
    confidence_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    max_detections: int = Field(default=50, ge=1, le=1000)
    polypdet_home: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    max_upload_mb: float = Field(default=20.0, gt=0)
    backend: str = "auto"
    threads: int | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.polypdet_home / 'polypdet.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
