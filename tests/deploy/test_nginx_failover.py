"""nginx failover for real: Debian's nginx (deploy/nginx) in front of three ``polypdet serve`` replicas sharing one
PostgreSQL database; a bounded load of real Kvasir-SEG images; one replica killed with SIGKILL half-way.
Goal: fewer than 0.1 % failed requests. About 45 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_cluster import Cluster, local_cluster, read_images, run_load
from deploy_nginx import NGINX

from postgres_db import count_rows, throwaway_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed (.ci/run installs it)"),
]

DURATION_S = 24.0
KILL_AT_S = 10.0
REJOIN_AT_S = 14.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with throwaway_database("polypdet_failover") as url, local_cluster(url, tmp_path_factory.mktemp("cluster")) as c:
        yield c


def served_by(cluster: Cluster, expected: int, wait_s: float = 5.0) -> list[tuple[str, str]]:
    """(upstream addresses, status) of every request in nginx's JSON access log, in order.

    nginx writes a request's log line after the client already has the answer: wait (briefly) for the last ones.
    """
    deadline = time.monotonic() + wait_s
    while True:
        entries = [json.loads(line) for line in (cluster.nginx.root / "access.log").read_text().splitlines()]
        served = [(e["upstream"], e["upstream_status"]) for e in entries if e["uri"] == "/api/detect"]
        if len(served) >= expected or time.monotonic() > deadline:
            return served
        time.sleep(0.1)


def test_killing_one_of_three_replicas_under_load_fails_under_0_1_percent(cluster: Cluster, data: Path) -> None:
    images = read_images(data / "kvasir-seg" / "images", 300)
    victim = 1
    victim_address = f"127.0.0.1:{cluster.replica_ports[victim]}"
    events: dict[str, float] = {}

    def kill() -> None:
        events["killed"] = cluster.kill(victim)

    def restart() -> None:
        cluster.start_replica(victim)
        events["restarted"] = time.monotonic()

    report = run_load(
        cluster.url,
        images,
        duration_s=DURATION_S,
        connections=4,
        max_requests=2000,
        api_key=cluster.api_key,
        during=[(KILL_AT_S, kill), (REJOIN_AT_S, restart)],
    )
    failed = report.failed
    assert len(report.outcomes) >= 200, f"only {len(report.outcomes)} requests: the load did not run"
    assert report.failure_rate < 0.001, f"{len(failed)} of {len(report.outcomes)} failed: {failed[:3]}"

    upstreams = served_by(cluster, len(report.outcomes))
    assert len(upstreams) == len(report.outcomes)
    for port in cluster.replica_ports:
        assert any(f"127.0.0.1:{port}" in u for u, _ in upstreams), f"replica on {port} never served"
    retried = [u for u, _ in upstreams if ", " in u]
    assert all(u.startswith(victim_address) for u in retried), "only requests on the killed replica are retried"

    # Every answered detection was stored in the shared database (a retried one possibly twice).
    successes = len(report.outcomes) - len(failed)
    assert count_rows(cluster.env["DATABASE_URL"], "results") >= successes

    # The restarted replica comes back into rotation once ready and nginx's fail_timeout (10 s) has passed.
    cluster.wait_ready(victim)
    deadline = time.monotonic() + 40
    while not any(u == victim_address for u, _ in served_by(cluster, 0)[len(upstreams) :]):
        assert time.monotonic() < deadline, "the restarted replica never served again"
        run_load(cluster.url, images[:6], duration_s=1, connections=3, max_requests=6, api_key=cluster.api_key)
