"""``/api/auth``: log in with password + TOTP, refresh, log out, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from polypdet.api.auth import audit, authenticate, security_of
from polypdet.api.deps import Caller
from polypdet.api.errors import ApiError
from polypdet.api.schemas import ErrorOut
from polypdet.security.roles import Role
from polypdet.security.sessions import SessionError
from polypdet.security.users import LoginError

router = APIRouter(prefix="/api/auth", tags=["auth"])
REFUSED: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut, "description": "refused (any reason)"}}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$", description="the authenticator's code")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="single use: each refresh returns a new one")
    idle_timeout: int = Field(description="seconds without activity before the session ends (automatic logoff)")


class Me(BaseModel):
    subject: str
    actor: str
    roles: list[str]
    permissions: list[str]


def _pair(request: Request, user_id: str, name: str, role: Role, session_id: str, refresh_token: str) -> dict[str, Any]:
    security = security_of(request)
    token, _ = security.signer.issue(user_id, name, role, session_id)
    return {
        "access_token": token,
        "expires_in": security.settings.access_token_ttl_s,
        "refresh_token": refresh_token,
        "idle_timeout": security.settings.session_idle_timeout_s,
    }


UNAUTHORIZED = ApiError(401, "unauthorized", "invalid username, password or code")


@router.post("/login", response_model=TokenPair, responses=REFUSED)
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    security = security_of(request)
    try:
        user = await run_in_threadpool(security.users.authenticate, body.username, body.password, body.totp)
    except LoginError as error:
        await audit(
            request, "auth.login_failed", f"user:{body.username[:64]}", "denied", details={"reason": error.reason}
        )
        raise UNAUTHORIZED from None
    session = await run_in_threadpool(security.sessions.create, user.id)
    await audit(request, "auth.login", f"user:{user.username}", target=f"session:{session.session_id}")
    assert session.refresh_token is not None
    return _pair(request, user.id, user.username, Role(user.role), session.session_id, session.refresh_token)


@router.post("/refresh", response_model=TokenPair, responses=REFUSED)
async def refresh(body: RefreshRequest, request: Request) -> dict[str, Any]:
    security = security_of(request)
    try:
        session = await run_in_threadpool(security.sessions.refresh, body.refresh_token)
        user = await run_in_threadpool(security.users.get, session.user_id)
        if user is None or user.disabled:
            raise SessionError("user gone or disabled", session.user_id)
    except SessionError as error:
        await audit(
            request,
            "auth.refresh_failed",
            f"user-id:{error.user_id or '?'}",
            "denied",
            details={"reason": error.reason},
        )
        raise ApiError(401, "unauthorized", "session expired or revoked; log in again") from None
    await audit(request, "auth.refresh", f"user:{user.username}", target=f"session:{session.session_id}")
    assert session.refresh_token is not None
    return _pair(request, user.id, user.username, Role(user.role), session.session_id, session.refresh_token)


@router.post("/logout", status_code=204, responses=REFUSED)
async def logout(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> Response:
    """End the session of this access token (API keys have no session: revoke them instead)."""
    if caller.session_id is None:
        raise ApiError(400, "no_session", "API keys have no session to end; an admin revokes the key")
    await run_in_threadpool(security_of(request).sessions.revoke, caller.session_id, "logout")
    await audit(request, "auth.logout", caller.actor, target=f"session:{caller.session_id}")
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=REFUSED)
async def me(caller: Annotated[Caller, Depends(authenticate)]) -> dict[str, Any]:
    return {
        "subject": caller.subject,
        "actor": caller.actor,
        "roles": sorted(caller.roles),
        "permissions": sorted(caller.permissions),
    }
