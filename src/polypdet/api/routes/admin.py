"""``/api/admin``: users and API keys (admins), the audit trail (auditors and admins). Others get 403."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from polypdet.api.auth import audit, require, security_of
from polypdet.api.deps import Caller
from polypdet.api.errors import ApiError
from polypdet.api.schemas import ErrorOut
from polypdet.security.apikeys import ApiKeyNotFoundError, key_summary
from polypdet.security.passwords import WeakPasswordError
from polypdet.security.roles import Permission, Role
from polypdet.security.users import UserExistsError, UserNotFoundError

router = APIRouter(prefix="/api/admin", tags=["admin"])
DENIED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or bad credentials"},
    403: {"model": ErrorOut, "description": "your role may not do this"},
}
Admin = Annotated[Caller, Depends(require(Permission.MANAGE_USERS_AND_KEYS))]
Auditor = Annotated[Caller, Depends(require(Permission.READ_AUDIT))]
Username = Annotated[str, Path(min_length=1, max_length=64)]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=12, max_length=256)
    role: Role


class UserOut(BaseModel):
    username: str
    role: str
    totp: bool
    disabled: bool
    created_at: str


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    role: Role
    username: str | None = Field(default=None, max_length=64, description="the key acts as this user")


class KeyOut(BaseModel):
    prefix: str
    name: str
    role: str
    created_at: str
    last_used_at: str | None
    revoked: bool


class CreatedKey(KeyOut):
    key: str = Field(description="the key itself: shown only in this response")


def _user_json(user: Any) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "totp": user.totp_enabled,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(timespec="seconds"),
    }


@router.get("/users", response_model=list[UserOut], responses=DENIED)
async def list_users(request: Request, caller: Admin) -> list[dict[str, Any]]:
    users = await run_in_threadpool(security_of(request).users.list)
    return [_user_json(u) for u in users]


@router.post("/users", response_model=UserOut, status_code=201, responses=DENIED)
async def create_user(body: NewUser, request: Request, caller: Admin) -> dict[str, Any]:
    security = security_of(request)
    try:
        user = await run_in_threadpool(security.users.create, body.username, body.password, body.role)
    except UserExistsError:
        raise ApiError(409, "exists", f"user {body.username!r} exists") from None
    except (WeakPasswordError, ValueError) as error:
        raise ApiError(422, "invalid_request", str(error)) from None
    await audit(request, "user.created", caller.actor, target=f"user:{user.username}", details={"role": user.role})
    return _user_json(user)


@router.post("/users/{username}/disable", response_model=UserOut, responses=DENIED)
async def disable_user(username: Username, request: Request, caller: Admin) -> dict[str, Any]:
    security = security_of(request)
    try:
        user = await run_in_threadpool(security.users.set_disabled, username, True)
    except UserNotFoundError:
        raise ApiError(404, "not_found", f"no user {username!r}") from None
    ended = await run_in_threadpool(security.sessions.revoke_all, user.id, "account disabled")
    await audit(request, "user.disabled", caller.actor, target=f"user:{username}", details={"sessions_ended": ended})
    return _user_json(user)


@router.post("/users/{username}/totp", responses=DENIED)
async def enroll_totp(username: Username, request: Request, caller: Admin) -> dict[str, str]:
    """A new TOTP secret for the user: the provisioning URI (``otpauth://``) for their authenticator, shown once."""
    try:
        enrolment = await run_in_threadpool(security_of(request).users.enroll_totp, username)
    except UserNotFoundError:
        raise ApiError(404, "not_found", f"no user {username!r}") from None
    await audit(request, "user.totp_enrolled", caller.actor, target=f"user:{username}")
    return {"provisioning_uri": enrolment.provisioning_uri}


@router.get("/keys", response_model=list[KeyOut], responses=DENIED)
async def list_keys(request: Request, caller: Admin, include_revoked: bool = False) -> list[dict[str, Any]]:
    keys = await run_in_threadpool(security_of(request).api_keys.list, include_revoked)
    return [key_summary(k) for k in keys]


@router.post("/keys", response_model=CreatedKey, status_code=201, responses=DENIED)
async def create_key(body: NewKey, request: Request, caller: Admin) -> dict[str, Any]:
    security = security_of(request)
    user_id = None
    if body.username:
        user = await run_in_threadpool(security.users.by_name, body.username)
        if user is None:
            raise ApiError(404, "not_found", f"no user {body.username!r}")
        user_id = user.id
    record, key = await run_in_threadpool(security.api_keys.create, body.name, body.role, user_id)
    await audit(
        request,
        "key.created",
        caller.actor,
        target=f"key:{record.prefix}",
        details={"role": body.role.value, "name": body.name},
    )
    return key_summary(record) | {"key": key}


@router.delete("/keys/{prefix}", response_model=KeyOut, responses=DENIED)
async def revoke_key(
    prefix: Annotated[str, Path(pattern=r"^[a-z0-9]{10}$")], request: Request, caller: Admin
) -> dict[str, Any]:
    try:
        record = await run_in_threadpool(security_of(request).api_keys.revoke, prefix)
    except ApiKeyNotFoundError:
        raise ApiError(404, "not_found", f"no live API key {prefix}") from None
    await audit(request, "key.revoked", caller.actor, target=f"key:{prefix}")
    return key_summary(record)


@router.get("/audit", responses=DENIED)
async def read_audit(
    request: Request,
    caller: Auditor,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """A page of the audit trail in chain order; ``next_after_seq`` continues it."""
    security = security_of(request)
    records = await run_in_threadpool(lambda: list(security.audit.export(after_seq, limit)))
    await audit(request, "audit.read", caller.actor, details={"after_seq": after_seq, "records": len(records)})
    return {"records": records, "next_after_seq": records[-1]["seq"] if len(records) == limit else None}


@router.get("/audit/export", responses=DENIED)
async def export_audit(request: Request, caller: Auditor) -> dict[str, Any]:
    """The whole trail as one JSON document, with the verified head hash to keep outside the database."""
    security = security_of(request)
    records = await run_in_threadpool(lambda: list(security.audit.export()))
    report = await run_in_threadpool(security.audit.verify)
    await audit(request, "audit.exported", caller.actor, details={"records": len(records)})
    return {"head_hash": report.head_hash, "chain_ok": report.ok, "records": records}


@router.get("/audit/verify", responses=DENIED)
async def verify_audit(request: Request, caller: Auditor) -> dict[str, Any]:
    report = await run_in_threadpool(security_of(request).audit.verify)
    await audit(request, "audit.verified", caller.actor, details={"ok": report.ok})
    return {
        "ok": report.ok,
        "records": report.records,
        "head_hash": report.head_hash,
        "broken_seq": report.broken_seq,
        "reason": report.reason,
    }
