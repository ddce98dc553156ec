"""The settings the deployment relies on: `LOW_MEMORY` (edge image), `IMGSZ`, and secrets read from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from polypdet.config import Settings


def test_low_memory_picks_onnxruntime_one_thread_no_batching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOW_MEMORY", "1")
    monkeypatch.setenv("BACKEND", "openvino")
    monkeypatch.setenv("BATCH_MAX_SIZE", "16")
    monkeypatch.setenv("PRECISION", "int8")
    settings = Settings()
    assert (settings.backend, settings.threads, settings.batch_max_size) == ("onnxruntime", 1, 1)
    assert settings.precision == "auto"
    assert settings.batch_max_delay_ms == 0 and settings.cache_size <= 64 and settings.queue_max <= 16


def test_without_low_memory_the_settings_stay_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOW_MEMORY", raising=False)
    monkeypatch.setenv("BATCH_MAX_SIZE", "16")
    settings = Settings()
    assert settings.backend == "auto" and settings.batch_max_size == 16


def test_int8_on_onnxruntime_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOW_MEMORY", raising=False)
    monkeypatch.setenv("BACKEND", "onnxruntime")
    monkeypatch.setenv("PRECISION", "int8")
    with pytest.raises(ValueError, match="PRECISION=int8 runs on OpenVINO only"):
        Settings()


def test_imgsz_sets_the_served_input_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGSZ", "480")
    assert Settings(backend="onnxruntime").load_detector().input_size == 480
    monkeypatch.setenv("IMGSZ", "500")
    with pytest.raises(ValueError, match="multiple of 32"):
        Settings()


def test_container_secrets_are_read_from_one_file_per_setting(tmp_path: Path) -> None:
    (tmp_path / "database_url").write_text("postgresql://polyp_user:s3cret@postgres-db:5432/polyp_detections\n")
    settings = Settings(_secrets_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://polyp_user:s3cret@postgres-db:5432/polyp_detections"
