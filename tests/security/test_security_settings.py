"""Configuration refuses insecure values: weak secrets anywhere; generated secrets and auth-off in production."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from polypdet.config import Settings

STRONG = "x7Hq2v9LmP4sT8wZ1cR6yB3nK5dF0gJ2aE7uQ9"


def production(**overrides: Any) -> dict[str, Any]:
    values = {
        "environment": "production",
        "master_key": base64.b64encode(os.urandom(32)).decode(),
        "jwt_secret": STRONG,
        "pseudonym_key": STRONG[::-1],
    }
    return values | overrides


def test_development_defaults_are_accepted() -> None:
    settings = Settings()
    assert settings.environment == "development" and settings.auth_enabled


def test_complete_production_settings_are_accepted() -> None:
    assert Settings(**production()).environment == "production"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_enabled": False}, "AUTH_ENABLED=false is refused"),
        ({"master_key": None}, "set MASTER_KEY or MASTER_KEY_FILE"),
        ({"jwt_secret": None}, "set JWT_SECRET or JWT_SECRET_FILE"),
        ({"pseudonym_key": None}, "set PSEUDONYM_KEY"),
        ({"jwt_secret": "changeme"}, "JWT_SECRET is a well-known default"),
        ({"pseudonym_key": "secure_random_salt"}, "PSEUDONYM_KEY is a well-known default"),
        ({"jwt_secret": "short-secret"}, "shorter than 32 bytes"),
    ],
)
def test_production_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**production(**overrides))


def test_weak_secrets_are_refused_in_development_too() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a well-known default"):
        Settings(jwt_secret="secret")


def test_secret_files_are_checked(tmp_path: Path) -> None:
    weak = tmp_path / "jwt"
    weak.write_text("password\n")
    with pytest.raises(ValidationError, match="JWT_SECRET_FILE is a well-known default"):
        Settings(**production(jwt_secret=None, jwt_secret_file=weak))
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(**production(jwt_secret=None, jwt_secret_file=tmp_path / "missing"))


def test_environment_variables_reach_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_ENABLED", "false")
    with pytest.raises(ValidationError) as error:
        Settings()
    text = str(error.value)
    assert "AUTH_ENABLED=false" in text and "MASTER_KEY" in text and "JWT_SECRET" in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allowed_networks": "10.0.0.0/8, banana"}, "ALLOWED_NETWORKS: not an IP network: 'banana'"),
        ({"trusted_proxies": "300.1.1.1"}, "TRUSTED_PROXIES"),
        ({"rate_limit": "lots"}, "RATE_LIMIT"),
    ],
)
def test_malformed_network_and_rate_settings(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**overrides)
