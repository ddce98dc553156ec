"""Who is calling: API keys (``X-API-Key`` or ``Authorization: Bearer pdk_...``) and access tokens (Bearer JWT).

Browsers cannot set headers on a WebSocket, so a WebSocket may also present its credential as a subprotocol
``bearer.<key or token>`` offered next to the plain one (``new WebSocket(url, ["polypdet", "bearer." + key])``);
the route echoes only the plain one. Never in the query string: URLs end up in access logs.

Every failure is the same 401 to the caller; the reason goes to the audit trail. Permissions are checked by
:func:`require`, which answers 403 (and audits it) when the caller's role lacks one. Both take an
``HTTPConnection``, so WebSocket routes use them as HTTP routes do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from polypdet.api.errors import ApiError
from polypdet.security.apikeys import SCHEME
from polypdet.security.audit import AuditError
from polypdet.security.context import SecurityContext
from polypdet.security.roles import Permission, Role
from polypdet.security.sessions import SessionError
from polypdet.security.tokens import InvalidTokenError

UNAUTHORIZED = "missing, invalid, expired or revoked credentials"
BEARER_SUBPROTOCOL = "bearer."


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``sees_all`` callers read every owner's results; others only their own (``subject``)."""

    subject: str
    roles: frozenset[str] = frozenset()
    sees_all: bool = False
    permissions: frozenset[str] = frozenset()
    actor: str = ""
    session_id: str | None = None

    @property
    def owner_filter(self) -> str | None:
        return None if self.sees_all else self.subject

    @property
    def audit_name(self) -> str:
        return self.actor or self.subject


# AUTH_ENABLED=false (development only): the caller may detect and read back, nothing more.
DEVELOPMENT_CALLER = Caller(
    subject="anonymous",
    roles=frozenset({"anonymous"}),
    permissions=frozenset({Permission.DETECT, Permission.READ_OWN_RESULTS}),
    actor="anonymous",
)


def security_of(request: HTTPConnection) -> SecurityContext:
    security: SecurityContext | None = getattr(request.app.state, "security", None)
    if security is None:
        raise ApiError(503, "not_ready", "the service is starting or stopping", {"Retry-After": "1"})
    return security


def client_ip(request: HTTPConnection) -> str | None:
    """The address the guard middleware worked out (trusted proxies considered)."""
    state: dict[str, Any] = request.scope.get("state", {})
    value = state.get("client_ip")
    return str(value) if value else (request.client.host if request.client else None)


async def audit(
    request: HTTPConnection,
    action: str,
    actor: str,
    outcome: str = "success",
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail; when it cannot be written the request fails (no unrecorded access)."""
    security = security_of(request)
    try:
        await run_in_threadpool(security.audit.append, action, actor, outcome, target, client_ip(request), details)
    except AuditError:
        raise ApiError(503, "audit_unavailable", "the audit trail cannot be written; try again") from None


def caller_for(role: Role, subject: str, actor: str, session_id: str | None = None) -> Caller:
    permissions = role.permissions
    return Caller(
        subject=subject,
        roles=frozenset({role.value}),
        sees_all=Permission.READ_ALL_RESULTS in permissions,
        permissions=frozenset(permissions),
        actor=actor,
        session_id=session_id,
    )


def presented_credential(request: HTTPConnection) -> str | None:
    api_key = request.headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if request.scope["type"] == "websocket":
        return subprotocol_credential(request.scope.get("subprotocols", []))
    return None


def subprotocol_credential(subprotocols: list[str]) -> str | None:
    """The credential a browser offered as the WebSocket subprotocol ``bearer.<credential>``."""
    for subprotocol in subprotocols:
        if subprotocol.startswith(BEARER_SUBPROTOCOL):
            return subprotocol.removeprefix(BEARER_SUBPROTOCOL).strip() or None
    return None


async def _refuse(request: HTTPConnection, reason: str) -> ApiError:
    await audit(
        request, "auth.failed", "unknown", outcome="denied", target=request.url.path, details={"reason": reason}
    )
    return ApiError(401, "unauthorized", UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})


async def authenticate(request: HTTPConnection) -> Caller:
    security = security_of(request)
    if not security.settings.auth_enabled:
        return DEVELOPMENT_CALLER
    credential = presented_credential(request)
    if not credential:
        raise await _refuse(request, "no credentials")
    if credential.startswith(SCHEME + "_"):
        identity = await run_in_threadpool(security.api_keys.authenticate, credential)
        if identity is None:
            raise await _refuse(request, "unknown, malformed or revoked API key")
        subject = f"user:{identity.user_id}" if identity.user_id else f"key:{identity.prefix}"
        caller = caller_for(identity.role, subject, actor=f"key:{identity.prefix}")
    else:
        try:
            claims = security.signer.verify(credential)
            await run_in_threadpool(security.sessions.touch, claims.session_id)
        except (InvalidTokenError, SessionError) as error:
            raise await _refuse(request, f"token: {error.reason}") from None
        caller = caller_for(claims.role, f"user:{claims.user_id}", f"user:{claims.name}", claims.session_id)
    request.state.caller = caller
    return caller


def require(*any_of: Permission) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the authenticated caller, if their role has at least one of ``any_of``; else 403."""

    async def check(request: HTTPConnection, caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if not any(permission in caller.permissions for permission in any_of):
            await audit(
                request,
                "access.denied",
                caller.audit_name,
                outcome="denied",
                target=request.url.path,
                details={"needs": [p.value for p in any_of], "roles": sorted(caller.roles)},
            )
            raise ApiError(403, "forbidden", "your role does not allow this")
        return caller

    return check
