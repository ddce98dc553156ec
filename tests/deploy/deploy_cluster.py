"""A local copy of the compose topology: N ``polypdet serve`` replicas on loopback sharing one PostgreSQL database,
Debian's nginx in front (deploy/nginx), and a bounded load generator. Used by test_nginx_failover.py and by
benchmarks/failover.py. Every process is started and stopped here, by PID."""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy_nginx import NginxSite, local_site
from deploy_processes import free_port, start, stop, wait_http

POLYPDET = str(Path(sys.executable).parent / "polypdet")


def shared_environment(database_url: str, home: Path) -> dict[str, str]:
    """What every replica shares: the database, the keys (one master key, one JWT secret) and the model."""
    return {
        "DATABASE_URL": database_url,
        "POLYPDET_HOME": str(home),
        "MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "PSEUDONYM_KEY": secrets.token_urlsafe(48),
        "ENVIRONMENT": "development",
        "LOG_JSON": "true",
        # Every request runs the model: no result cache, no Redis.
        "CACHE_SIZE": "0",
        "REDIS_URL": "",
        # The load is bounded by max_requests, not by the limiter: at 600/minute per replica a fast machine's
        # ~1800 requests in 24 s got 429s (tests/security covers the limiter).
        "RATE_LIMIT": "1000000/minute",
        "BACKEND": "onnxruntime",
        "THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def create_api_key(env: dict[str, str]) -> str | None:
    """A ``service`` API key made with ``polypdet keys create`` on the shared database (None without security)."""
    from polypdet.cli.main import COMMANDS

    if "keys" not in COMMANDS:
        return None
    result = subprocess.run(
        [POLYPDET, "keys", "create", "--role", "service", "--name", "failover-test"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"polypdet keys create failed: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


@dataclass
class Cluster:
    replicas: list[subprocess.Popen[bytes]]
    replica_ports: list[int]
    nginx: NginxSite
    env: dict[str, str]
    logs: Path
    api_key: str | None = None

    @property
    def url(self) -> tuple[str, int]:
        assert self.nginx.plain_port is not None
        return "127.0.0.1", self.nginx.plain_port

    def start_replica(self, index: int) -> subprocess.Popen[bytes]:
        port = self.replica_ports[index]
        command = [POLYPDET, "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = start(command, self.env, self.logs / f"replica-{index}.log")
        if index < len(self.replicas):
            self.replicas[index] = process
        else:
            self.replicas.append(process)
        return process

    def wait_ready(self, index: int, timeout: float = 120.0) -> None:
        wait_http(f"http://127.0.0.1:{self.replica_ports[index]}/health/ready", self.replicas[index], timeout)

    def kill(self, index: int) -> float:
        """SIGKILL one replica; returns the monotonic time of the kill."""
        moment = time.monotonic()
        os.kill(self.replicas[index].pid, signal.SIGKILL)
        self.replicas[index].wait(10)
        return moment


@contextmanager
def local_cluster(database_url: str, root: Path, replicas: int = 3) -> Iterator[Cluster]:
    """Replicas started one after another (the first migrates the database), then nginx; all stopped at the end."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = shared_environment(database_url, root / "home")
    ports = [free_port() for _ in range(replicas)]
    site = local_site(root / "nginx", ports, free_port(), free_port(), plain_port=free_port())
    cluster = Cluster([], ports, site, env, logs)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for index in range(replicas):
            cluster.start_replica(index)
            cluster.wait_ready(index)
        cluster.api_key = create_api_key(env)
        nginx = site.start()
        yield cluster
    finally:
        if nginx is not None:
            stop(nginx, grace=5)
        for process in cluster.replicas:
            stop(process, grace=10)


@dataclass
class Outcome:
    sent_at: float
    done_at: float
    status: int  # 0: no HTTP answer at all
    error: str = ""


@dataclass
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    @property
    def failure_rate(self) -> float:
        return len(self.failed) / max(len(self.outcomes), 1)


def run_load(
    address: tuple[str, int],
    images: Sequence[bytes],
    duration_s: float,
    connections: int = 4,
    max_requests: int = 2000,
    api_key: str | None = None,
    during: list[tuple[float, object]] | None = None,
) -> LoadReport:
    """POST ``images`` round-robin over ``connections`` keep-alive connections for at most ``duration_s`` seconds and
    ``max_requests`` requests. ``during`` holds ``(seconds after start, callable)`` events run from this thread."""
    report, lock = LoadReport(), threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.monotonic() + duration_s
    headers = {"Content-Type": "image/jpeg", **({"X-API-Key": api_key} if api_key else {})}

    def client() -> None:
        connection = http.client.HTTPConnection(*address, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/detect", body=images[index % len(images)], headers=headers)
                response = connection.getresponse()
                body = response.read()
                outcome = Outcome(
                    sent,
                    time.monotonic(),
                    response.status,
                    "" if response.status == 200 else body[:200].decode(errors="replace"),
                )
            except (OSError, http.client.HTTPException) as error:
                outcome = Outcome(sent, time.monotonic(), 0, f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection(*address, timeout=60)
            with lock:
                report.outcomes.append(outcome)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for at, action in sorted(during or [], key=lambda event: event[0]):
        time.sleep(max(0.0, started + at - time.monotonic()))
        action()  # type: ignore[operator]
    for thread in threads:
        thread.join(duration_s + 120)
    return report


def read_images(folder: Path, count: int) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("*.jpg"))[:count]]


def nginx_retries(site: NginxSite) -> int:
    """Requests nginx had to send to more than one replica (``upstream`` lists several addresses)."""
    log = site.root / "access.log"
    return (
        sum(
            1
            for line in log.read_text().splitlines()
            if '"upstream":"' in line and ", " in line.split('"upstream":"')[1].split('"')[0]
        )
        if log.exists()
        else 0
    )
