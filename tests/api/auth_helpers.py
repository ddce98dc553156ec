"""Credentials for the API tests: keys and users made on the app's own database, as the CLI would make them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from polypdet.security.context import SecurityContext
from polypdet.security.roles import Role


def security(app_or_client: FastAPI | TestClient) -> SecurityContext:
    app: Any = app_or_client.app if isinstance(app_or_client, TestClient) else app_or_client
    context: SecurityContext = app.state.security
    return context


def new_api_key(app_or_client: FastAPI | TestClient, role: Role = Role.CLINICIAN, user_id: str | None = None) -> str:
    """A fresh API key (as ``polypdet keys create`` makes it); the app must be started."""
    _, key = security(app_or_client).api_keys.create(f"test-{role.value}", role, user_id)
    return key
