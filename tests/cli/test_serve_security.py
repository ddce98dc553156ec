"""``polypdet serve`` as a new user starts it: the first-start admin key, then HTTPS with TLS 1.3 and HSTS."""

from __future__ import annotations

import os
import re
import selectors
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from tls_certs import self_signed

KEY = re.compile(r"pdk_[a-z0-9]{10}_[A-Za-z0-9_-]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(home: Path, cert: Path, key: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server and return it with everything it printed until it listens."""
    env = os.environ | {"POLYPDET_HOME": str(home), "LOG_JSON": "false", "BACKEND": "onnxruntime"}
    for name in ("DATABASE_URL", "REDIS_URL", "MASTER_KEY", "JWT_SECRET", "PSEUDONYM_KEY", "ENVIRONMENT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "polypdet", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    output, deadline = "", time.monotonic() + 90
    while "running on" not in output.lower():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"the server did not start:\n{output}")
        if selector.select(timeout=1):  # unbuffered reads: a buffered readline could sit on lines already read
            output += os.read(process.stdout.fileno(), 65536).decode(errors="replace")
    return process, output


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def server(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[tuple[str, str, Path]]:
    cert, key = certificate
    port = free_port()
    process, output = start(tmp_path / "home", cert, key, port)
    try:
        keys = KEY.findall(output)
        assert len(keys) == 1, output  # printed exactly once
        yield f"https://localhost:{port}", keys[0], cert
    finally:
        stop(process)
    process, output = start(tmp_path / "home", cert, key, port)  # a second start prints no key
    stop(process)
    assert not KEY.findall(output)


def test_first_start_key_works_over_tls(server: tuple[str, str, Path]) -> None:
    url, admin_key, cert = server
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=20) as client:
        assert client.get(url + "/api/results").status_code == 401
        response = client.get(url + "/api/admin/users", headers={"X-API-Key": admin_key})
        assert response.status_code == 200 and response.json() == []
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in response.headers
    port = int(url.rsplit(":", 1)[1])
    assert handshake(port, cert) == "TLSv1.3"
    assert handshake(port, cert, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def handshake(port: int, cert: Path, maximum: ssl.TLSVersion | None = None) -> str:
    context = ssl.create_default_context(cafile=str(cert))
    if maximum is not None:
        context.maximum_version = maximum
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert "ECDHE" in tls.cipher()[0] or tls.version() == "TLSv1.3"
        return str(tls.version())


def test_a_bad_setting_is_one_line_naming_its_variable(tmp_path: Path) -> None:
    env = os.environ | {"POLYPDET_HOME": str(tmp_path), "IMGSZ": "500"}
    command = [sys.executable, "-m", "polypdet", "serve", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "polypdet serve: error: IMGSZ: input size must be a multiple of 32 from 32 to 2048, got 500"
    ]
