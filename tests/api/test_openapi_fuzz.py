"""Schemathesis against the in-process app: at least 1000 generated requests, no 5xx answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from polypdet.api.app import create_app  # noqa: E402
from polypdet.config import Settings  # noqa: E402
from polypdet.security.context import open_security  # noqa: E402
from polypdet.security.roles import Role  # noqa: E402

CASES = 1100


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def admin_key(home: Path) -> str:
    """An admin key, so that the generated requests reach every route (not only the 401 in front)."""
    security = open_security(Settings(polypdet_home=home))
    try:
        return security.api_keys.create("fuzz", Role.ADMIN)[1]
    finally:
        security.engine.dispose()


@pytest.fixture(scope="module")
def schema(home: Path, admin_key: str, detector: Any) -> Iterator[Any]:
    from schemathesis.python.asgi import shutdown_lifespans

    settings = Settings(polypdet_home=home, redis_url=None, log_level="WARNING", rate_limit="100000/minute")
    app = create_app(settings, detector)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()


def test_openapi_documents_every_body_kind(schema: Any) -> None:
    body = schema.raw_schema["paths"]["/api/detect"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data", "image/jpeg", "image/png", "application/dicom"} <= set(body)
    assert "200" in schema.raw_schema["paths"]["/api/detect"]["post"]["responses"]


def test_fuzzing_gives_no_server_error(schema: Any, admin_key: str) -> None:
    strategy = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    seen: list[tuple[str, str, int]] = []

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(headers={"X-API-Key": admin_key})
        seen.append((case.method, case.path, response.status_code))
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"

    call()
    assert len(seen) >= 1000
    assert {path for _, path, _ in seen} >= {"/api/detect", "/api/results", "/api/results/{result_id}"}
