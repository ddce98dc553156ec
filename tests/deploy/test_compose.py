"""deploy/docker-compose.yml, validated by Debian's docker-compose 1.29 (``docker-compose config``; this machine has
only the bare docker client, no ``docker compose`` plugin) and by the Compose Specification schema, then read."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_paths import DEPLOY

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN", re.IGNORECASE)


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs Debian's docker-compose")
        pytest.skip("Debian's docker-compose is not installed (.ci/run installs it)")
    return found


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker_compose(), "-f", str(path), "config"], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The configuration as docker-compose resolved it (anchors merged, paths absolute)."""
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("condition: service_healthy", "condition: when_it_feels_like_it")
    )
    result = compose_config(broken)
    assert result.returncode != 0 and "condition" in result.stderr


def test_compose_specification_schema_accepts_the_file() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_three_detector_replicas_behind_nginx_with_redis_postgres_and_the_worker(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert {"polyp-detector", "nginx", "redis-cache", "postgres-db", "video-worker"} <= services.keys()
    detector = services["polyp-detector"]
    assert detector["deploy"]["replicas"] == 3
    assert "ports" not in detector, "detectors are reached through nginx only"
    assert services["nginx"]["depends_on"]["polyp-detector"]["condition"] == "service_healthy"
    assert {p["target"] for p in services["nginx"]["ports"]} == {80, 443}
    postgres_major = int(re.search(r"postgres:(\d+)", services["postgres-db"]["image"]).group(1))  # type: ignore[union-attr]
    assert postgres_major >= 13
    assert services["video-worker"]["command"][:2] == ["polypdet", "worker"]
    assert services["backup"]["profiles"] == ["ops"] and services["backup"]["command"] == ["polypdet", "backup"]


def test_the_seeds_environment_names_and_volumes_for_models_and_logs(resolved: dict[str, Any]) -> None:
    for name in ("polyp-detector", "video-worker"):
        service = resolved["services"][name]
        env = service["environment"]
        assert {"MODEL_PATH", "CONFIDENCE_THRESHOLD", "MAX_DETECTIONS", "REDIS_URL"} <= env.keys()
        assert env["MODEL_PATH"].startswith("/app/models/")
        sources = {s["source"] if isinstance(s, dict) else s for s in service["secrets"]}
        assert "database_url" in sources, "DATABASE_URL comes from the database_url secret (it holds a password)"
        targets = dict(volume_target(v) for v in service["volumes"])
        assert targets["/app/models"] == "ro"
        assert "/app/logs" in targets and env["POLYPDET_HOME"] in targets


def volume_target(volume: str | dict[str, Any]) -> tuple[str, str]:
    """(container path, "ro" or "rw") from the short ``src:target[:mode]`` or the long syntax."""
    if isinstance(volume, dict):
        return volume["target"], "ro" if volume.get("read_only") else "rw"
    parts = volume.split(":")
    return parts[1], parts[2] if len(parts) > 2 else "rw"


def test_every_long_running_service_has_a_health_check(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_secrets_come_from_files_never_literals(resolved: dict[str, Any]) -> None:
    assert all(set(secret) == {"file"} for secret in resolved["secrets"].values())
    for name, service in resolved["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAMES.search(key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), f"{name}: {key} is a literal"
    text = COMPOSE_FILE.read_text()
    assert "secure_password" not in text and "://polyp_user:" not in text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_make_secrets_writes_what_the_service_accepts_in_production(tmp_path: Path) -> None:
    from polypdet.config import Settings

    shutil.copy(DEPLOY / "make-secrets.sh", tmp_path / "make-secrets.sh")
    (tmp_path / "secrets").mkdir()
    subprocess.run(["sh", str(tmp_path / "make-secrets.sh")], check=True, capture_output=True)
    secrets = tmp_path / "secrets"
    expected = {s["file"].rsplit("/", 1)[-1] for s in yaml.safe_load(COMPOSE_FILE.read_text())["secrets"].values()}
    assert {p.name for p in secrets.iterdir()} == expected
    assert all(p.stat().st_mode & 0o077 == 0 for p in secrets.iterdir()), "secrets must be private to their owner"
    password = (secrets / "postgres_password").read_text()
    assert f":{password}@postgres-db:5432/" in (secrets / "database_url").read_text()
    assert len(base64.b64decode((secrets / "master_key").read_text())) == 32

    settings = Settings(_secrets_dir=secrets, environment="production")  # type: ignore[call-arg]
    assert settings.database_url == (secrets / "database_url").read_text()
    assert settings.master_key is not None and settings.jwt_secret is not None

    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    subprocess.run(["sh", str(tmp_path / "make-secrets.sh")], check=True, capture_output=True)
    assert before == {p.name: p.read_bytes() for p in secrets.iterdir()}, "a second run must keep existing secrets"
