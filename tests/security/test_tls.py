"""The hardened TLS context: TLS 1.3 preferred, TLS 1.2 with AEAD only, older versions refused."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from polypdet.security.tls import security_headers, server_context
from tls_certs import self_signed


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = self_signed(tmp_path)
    context = server_context(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(conn.version().encode() if conn.version() else b"?")
            except (ssl.SSLError, OSError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert
    stop.set()
    listener.close()
    thread.join(timeout=5)


def handshake(port: int, cert: Path, version: ssl.TLSVersion | None = None, ciphers: str | None = None) -> str:
    client = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        client.minimum_version = client.maximum_version = version
    if ciphers:
        client.set_ciphers(ciphers)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        return conn.recv(16).decode()


def test_tls13_is_preferred(tls_server: tuple[int, Path]) -> None:
    assert handshake(*tls_server) == "TLSv1.3"


def test_tls12_with_aead_is_accepted(tls_server: tuple[int, Path]) -> None:
    assert handshake(*tls_server, version=ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def test_tls12_without_forward_secrecy_is_refused(tls_server: tuple[int, Path]) -> None:
    with pytest.raises(ssl.SSLError):
        handshake(*tls_server, version=ssl.TLSVersion.TLSv1_2, ciphers="AES128-GCM-SHA256")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_old_versions_are_refused(tls_server: tuple[int, Path]) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    try:
        client.minimum_version = client.maximum_version = ssl.TLSVersion.TLSv1_1
        client.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    port, _ = tls_server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        client.wrap_socket(raw, server_hostname="localhost")


def test_security_headers() -> None:
    api = security_headers(tls=True, hsts_max_age_s=31536000)
    assert api["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert api["Cache-Control"] == "no-store" and api["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in security_headers(tls=False, hsts_max_age_s=31536000)
    page = security_headers(tls=False, hsts_max_age_s=0, kind="page")
    assert "script-src 'self'" in page["Content-Security-Policy"] and "Cache-Control" not in page
