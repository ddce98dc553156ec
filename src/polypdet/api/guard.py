"""Network guard for every request: IP allow-list, rate limits, small-body cap, security headers.

Runs before routing, so a refused caller costs no authentication, decoding or inference. The client address is
taken from ``X-Forwarded-For`` only when the peer is one of ``TRUSTED_PROXIES`` (see ``polypdet.security.network``).
"""

from __future__ import annotations

import hashlib
import json
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polypdet.api.metrics import ERRORS
from polypdet.security.network import ClientAddressPolicy, in_networks, parse_address
from polypdet.security.ratelimit import RateLimiter
from polypdet.security.tls import security_headers

log = logging.getLogger(__name__)

UNLIMITED_PATHS = ("/health", "/metrics")
SMALL_BODY_BYTES = 64 * 1024  # logins and admin requests; uploads go through their own limit
UPLOAD_PATHS = ("/api/detect", "/api/jobs/video")


def credential_of(headers: Headers) -> str | None:
    """The presented API key or bearer token (unverified: only to count requests per credential)."""
    value = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
    return value or None


class GuardMiddleware:
    def __init__(
        self, app: ASGIApp, policy: ClientAddressPolicy, limiter: RateLimiter | None, hsts_max_age_s: int
    ) -> None:
        self.app = app
        self.policy = policy
        self.limiter = limiter
        self.hsts_max_age_s = hsts_max_age_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope["client"][0] if scope.get("client") else None
        address = self.policy.client_address(peer, headers.get("x-forwarded-for"))
        scope.setdefault("state", {})["client_ip"] = str(address) if address else None
        if scope["type"] == "websocket":
            if not self.policy.allows(address):
                await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
                return
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        kind = "api" if path.startswith("/api") else "page" if path == "/" or path.startswith("/static/") else "other"
        extra = security_headers(self._is_tls(scope, headers, peer), self.hsts_max_age_s, kind)
        encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in encoded if h[0] not in present)]
            await send(message)

        if not self.policy.allows(address):
            log.warning("refused %s: outside ALLOWED_NETWORKS", address)
            await _reply(send_secure, 403, "forbidden", "requests from your address are not allowed")
            return
        if self.limiter is not None and not path.startswith(UNLIMITED_PATHS):
            retry_after = await self._rate_limited(str(address), credential_of(headers))
            if retry_after:
                detail = f"too many requests; retry in {retry_after} s"
                await _reply(send_secure, 429, "rate_limited", detail, {"retry-after": str(retry_after)})
                return
        if path.startswith("/api/") and not path.startswith(UPLOAD_PATHS):
            body = await _read_small_body(receive)
            if body is None:
                detail = f"request bodies here are limited to {SMALL_BODY_BYTES} bytes"
                await _reply(send_secure, 413, "too_large", detail)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_secure)

    def _is_tls(self, scope: Scope, headers: Headers, peer: str | None) -> bool:
        if scope.get("scheme") == "https":
            return True
        peer_address = parse_address(peer) if peer else None
        trusted = peer_address is not None and in_networks(peer_address, self.policy.trusted)
        return trusted and headers.get("x-forwarded-proto", "").lower() == "https"

    async def _rate_limited(self, address: str, credential: str | None) -> int:
        """Seconds to wait, or 0. A failing counter store lets requests through (logged): availability first."""
        assert self.limiter is not None
        try:
            decision = await self.limiter.hit("ip", address)
            if decision.allowed and credential:
                key = hashlib.sha256(credential.encode()).hexdigest()[:24]
                decision = await self.limiter.hit("credential", key)
        except Exception as error:  # any storage failure: count nothing, serve the request
            log.warning("rate limiter unavailable: %s", type(error).__name__)
            return 0
        return 0 if decision.allowed else decision.retry_after_s


async def _read_small_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` once it passes the limit (declared length or not: chunked too)."""
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return body  # the client went away; the app sees an empty body and the disconnect
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > SMALL_BODY_BYTES:
            return None
    return body


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _reply(send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
    ERRORS.labels(code).inc()
    body = json.dumps({"error": code, "detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
