"""All runtime settings, from the environment (the seed's names) with embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from polypdet.engine.detector import Detector

# Container secrets (compose `secrets:`, Kubernetes secret volumes): one file per setting,
# e.g. /run/secrets/database_url.
SECRETS_DIR = Path("/run/secrets")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        protected_namespaces=(),
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
    )

    model_path: str | None = Field(default=None, description="model folder, name, .onnx or .pt")
    confidence_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    max_detections: int = Field(default=50, ge=1, le=1000)
    polypdet_home: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    max_upload_mb: float = Field(default=20.0, gt=0)
    backend: Literal["auto", "openvino", "onnxruntime"] = "auto"
    precision: Literal["auto", "int8", "f32", "bf16"] = Field(
        default="auto", description="OpenVINO weights: auto runs the int8 IR where the model card serves it by default"
    )
    threads: int | None = None
    imgsz: int | None = Field(default=None, description="network input size, a multiple of 32 (default: the card's)")
    crop_margins: bool = Field(default=True, description="look only at the picture, not the black margins around it")
    # Service (polypdet serve): batching, timeouts, cache, logs.
    batch_max_size: int = Field(default=8, ge=1, le=64, description="images per inference batch")
    batch_max_delay_ms: float = Field(default=2.0, ge=0, le=100, description="wait for more requests to batch")
    queue_max: int = Field(default=64, ge=1, description="requests waiting for inference before 503")
    request_timeout_s: float = Field(default=10.0, gt=0, description="per-request limit before 503")
    cache_size: int = Field(default=1024, ge=0, description="in-process LRU entries (0 disables)")
    cache_ttl_s: int = Field(default=3600, ge=1, description="Redis entry lifetime")
    cache_prefix: str = Field(default="polypdet:result:", description="Redis key prefix")
    store_source_images: bool = Field(
        default=False, description="keep uploads (encrypted) so GET /api/results/{id}/sc can draw on them"
    )
    log_level: str = "INFO"
    log_json: bool = True
    # Edge (Raspberry Pi, small boxes): onnxruntime on one thread, no batching, a small cache.
    low_memory: bool = Field(default=False, description="LOW_MEMORY=1: smallest footprint, see _apply_low_memory")
    # Security (polypdet.security): refused when insecure, see polypdet.security.policy.
    environment: Literal["development", "production"] = "development"
    auth_enabled: bool = Field(default=True, description="development only: false lets anonymous callers in")
    master_key: SecretStr | None = Field(default=None, description="base64 AES-256 key wrapping the data keys")
    master_key_previous: SecretStr | None = Field(default=None, description="old master keys during a rotation")
    master_key_file: Path | None = Field(default=None, description="JSON keyring (default: POLYPDET_HOME/keys)")
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    pseudonym_key: SecretStr | None = Field(default=None, description="HMAC key of pseudonymous patient IDs")
    pseudonym_key_file: Path | None = None
    jwt_issuer: str = "polypdet"
    jwt_audience: str = "polypdet-api"
    access_token_ttl_s: int = Field(default=600, ge=30, le=3600)
    session_idle_timeout_s: int = Field(default=900, ge=60, description="automatic logoff after inactivity")
    session_max_age_s: int = Field(default=43200, ge=300)
    login_max_failures: int = Field(default=5, ge=1, description="failed logins before a lock-out")
    login_lockout_s: int = Field(default=900, ge=1)
    rate_limit: str = Field(default="600/minute", description="per API key and per client IP")
    rate_limit_prefix: str = Field(default="polypdet:ratelimit", description="Redis key prefix of the counters")
    allowed_networks: str = Field(default="", description="comma-separated CIDRs; empty allows every address")
    trusted_proxies: str = Field(default="", description="CIDRs whose X-Forwarded-For is believed")
    hsts_max_age_s: int = Field(default=31536000, ge=0)
    # Video jobs (polypdet.video.jobs): RQ workers over REDIS_URL, or a thread of the service when it is unset.
    job_queue: str = Field(default="polypdet-video", description="RQ queue of video jobs (polypdet worker --queue)")
    job_timeout_s: int = Field(default=7200, ge=10, description="longest one video job may run")
    job_retries: int = Field(default=2, ge=0, le=10, description="re-runs after a worker died or a job crashed")
    job_ttl_s: int = Field(default=7 * 86400, ge=60, description="how long a finished job stays readable")
    max_video_upload_mb: float = Field(default=1024.0, gt=0, description="largest POST /api/jobs/video upload")
    video_job_retention_hours: float = Field(
        default=72.0, gt=0, description="a finished job's folder (its outputs) is deleted this long after it ended"
    )
    # PACS listener (polypdet pacs listen).
    pacs_deidentify: bool = Field(default=False, description="de-identify received instances before analysis")

    def load_detector(self, hint: Literal["latency", "throughput"] = "throughput") -> Detector:
        """The detector these settings describe (model, backend, precision, threads, input size)."""
        from polypdet.engine.detector import Detector

        return Detector(
            self.model_path,
            self.backend,
            self.threads,
            self.precision,
            hint,
            self.imgsz,
            crop_margins=self.crop_margins,
        )

    @field_validator("imgsz")
    @classmethod
    def _input_size(cls, value: int | None) -> int | None:
        from polypdet.engine.detector import check_input_size

        return None if value is None else check_input_size(value)

    @model_validator(mode="after")
    def _apply_low_memory(self) -> Settings:
        if self.low_memory:
            self.backend, self.threads, self.precision = "onnxruntime", 1, "auto"
            self.batch_max_size, self.batch_max_delay_ms = 1, 0.0
            self.queue_max, self.cache_size = min(self.queue_max, 16), min(self.cache_size, 64)
        return self

    @model_validator(mode="after")
    def _precision_needs_openvino(self) -> Settings:
        if self.backend == "onnxruntime" and self.precision not in ("auto", "f32"):
            raise ValueError(f"PRECISION={self.precision} runs on OpenVINO only; BACKEND=onnxruntime runs f32")
        return self

    @model_validator(mode="after")
    def _refuse_insecure(self) -> Settings:
        from polypdet.security.policy import settings_problems

        problems = settings_problems(self)
        if problems:
            raise ValueError("insecure configuration: " + "; ".join(problems))
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.polypdet_home / 'polypdet.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
