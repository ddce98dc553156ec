"""Transmission security: a hardened TLS server context (TLS 1.2 minimum, 1.3 preferred) and secure headers.

OpenSSL picks the highest version both sides speak, so TLS 1.3 clients get 1.3; TLS 1.2 is kept for older
clients with forward-secret AEAD suites only. Behind nginx, nginx terminates TLS 1.3 (see the deployment).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

# TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers. TLS 1.3 suites are all acceptable.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1:!DSS"


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    return context


def server_context(certfile: str, keyfile: str | None = None, password: str | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile, password)
    return harden(context)


def uvicorn_ssl_context(config: Any, default_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """``uvicorn.run(..., ssl_context_factory=uvicorn_ssl_context)``: uvicorn's context, hardened."""
    return harden(default_factory())


PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(tls: bool, hsts_max_age_s: int, kind: str = "api") -> dict[str, str]:
    """Headers for every response. ``kind``: ``api`` (patient data: never cached), ``page`` (the web page, with
    a strict Content-Security-Policy) or anything else (docs, health: the common headers only)."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if kind == "api":
        headers["Cache-Control"] = "no-store"
        headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    elif kind == "page":
        headers["Content-Security-Policy"] = PAGE_CSP
    if tls and hsts_max_age_s > 0:
        headers["Strict-Transport-Security"] = f"max-age={hsts_max_age_s}; includeSubDomains"
    return headers
