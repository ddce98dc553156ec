#!/usr/bin/env python3
"""Failover and recovery, measured locally: the compose topology on loopback (three ``polypdet serve`` replicas
sharing one PostgreSQL database, Debian's nginx with deploy/nginx in front), a steady load of real Kvasir-SEG images,
one replica killed with SIGKILL and restarted after the load; then a backup and a restore of what the run wrote.

Figures (per round, and the worst over the rounds):
- failed requests and the failure rate while a replica dies (goal < 0.1 %);
- time from the replica's death to the last failed request ("to zero errors"; 0 when none failed);
- the slowest request in flight at the kill (what a caller notices), P50/P95/P99 overall;
- after the load, time from restarting the replica to ready (/health/ready) and to serving again through nginx;
- backup and restore times of the database (results + audit trail) and the models.

Run: ``.venv/bin/python benchmarks/failover.py [--rounds 3] [--seconds 40]``; writes
``benchmarks/results/failover.json``. Needs PostgreSQL on 127.0.0.1:5432 and Debian's nginx.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "tests" / "deploy"))  # the local-cluster harness the failover test uses

from deploy_cluster import Cluster, local_cluster, read_images, run_load  # noqa: E402
from deploy_pg import throwaway_database  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def served_by(cluster: Cluster) -> list[tuple[float, str]]:
    entries = [json.loads(line) for line in (cluster.nginx.root / "access.log").read_text().splitlines()]
    return [(e["time"], e["upstream"]) for e in entries if e["uri"] == "/api/detect"]


def one_round(url: str, root: Path, images: list[bytes], seconds: float) -> dict[str, Any]:
    kill_at = seconds * 0.4
    with local_cluster(url, root) as cluster:
        victim = 1
        address = f"127.0.0.1:{cluster.replica_ports[victim]}"
        events: dict[str, float] = {}

        def kill() -> None:
            events["killed"] = cluster.kill(victim)

        report = run_load(
            cluster.url,
            images,
            seconds,
            connections=4,
            max_requests=5000,
            api_key=cluster.api_key,
            during=[(kill_at, kill)],
        )
        # Then bring the replica back under a light load: how long until it is ready, and until nginx sends it work?
        before = len(served_by(cluster))
        restarted = time.monotonic()
        cluster.start_replica(victim)
        cluster.wait_ready(victim)
        ready = time.monotonic() - restarted
        rejoined = None
        while rejoined is None and time.monotonic() < restarted + 60:
            run_load(cluster.url, images[:3], 0.5, connections=3, max_requests=3, api_key=cluster.api_key)
            if any(upstream == address for _, upstream in served_by(cluster)[before:]):
                rejoined = time.monotonic() - restarted

        killed = events["killed"]
        failed = report.failed
        in_flight = [o.done_at - o.sent_at for o in report.outcomes if o.sent_at <= killed <= o.done_at]
        latencies = [o.done_at - o.sent_at for o in report.outcomes if o.status == 200]

        env = {**cluster.env}
    backup_s, restore_s, archive_mib = backup_and_restore(env, root)
    return {
        "requests": len(report.outcomes),
        "failed": len(failed),
        "failure_rate": report.failure_rate,
        "failure_statuses": sorted({o.status for o in failed}),
        "seconds_to_zero_errors": max((o.done_at - killed for o in failed), default=0.0),
        "slowest_request_in_flight_at_kill_s": max(in_flight, default=0.0),
        "requests_in_flight_at_kill": len(in_flight),
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "throughput_per_min": 60 * len(latencies) / seconds,
        "seconds_restart_to_ready": ready,
        "seconds_restart_to_serving": rejoined,
        "backup_s": backup_s,
        "restore_s": restore_s,
        "archive_mib": archive_mib,
    }


def backup_and_restore(env: dict[str, str], root: Path) -> tuple[float, float, float]:
    """Back up the round's database and the models, then restore both (the database into itself, as after a loss)."""
    from polypdet.backup import create_backup, restore_backup
    from polypdet.config import Settings

    settings = Settings(
        database_url=env["DATABASE_URL"],
        polypdet_home=Path(env["POLYPDET_HOME"]),
        master_key=env["MASTER_KEY"],
        environment="development",
    )
    models = root / "models"
    shutil.copytree(REPO / "models", models)
    backup = create_backup(settings, str(root / "backups"), models)
    shutil.rmtree(models)
    restore = restore_backup(settings, backup.location, models)
    return backup.seconds, restore.seconds, backup.size_bytes / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    images = read_images(DATA / "kvasir-seg" / "images", 400)
    rounds = []
    for index in range(args.rounds):
        with (
            tempfile.TemporaryDirectory(prefix="polypdet-failover-") as scratch,
            throwaway_database("polypdet_failover_bench") as url,
        ):
            result = one_round(url, Path(scratch), images, args.seconds)
        print(
            f"round {index + 1}: "
            + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}),
            flush=True,
        )
        rounds.append(result)
    total = sum(r["requests"] for r in rounds)
    summary = {
        "requests": total,
        "failed": sum(r["failed"] for r in rounds),
        "failure_rate": sum(r["failed"] for r in rounds) / max(total, 1),
        "worst_seconds_to_zero_errors": max(r["seconds_to_zero_errors"] for r in rounds),
        "worst_slowest_request_in_flight_at_kill_s": max(r["slowest_request_in_flight_at_kill_s"] for r in rounds),
        "median_seconds_restart_to_ready": statistics.median(r["seconds_restart_to_ready"] for r in rounds),
        "median_seconds_restart_to_serving": statistics.median(
            r["seconds_restart_to_serving"] for r in rounds if r["seconds_restart_to_serving"] is not None
        ),
        "median_backup_s": statistics.median(r["backup_s"] for r in rounds),
        "median_restore_s": statistics.median(r["restore_s"] for r in rounds),
    }
    result = {
        "benchmark": "failover",
        "setup": {
            "replicas": 3,
            "connections": 4,
            "seconds_per_round": args.seconds,
            "backend": "onnxruntime",
            "threads_per_replica": 1,
            "cache": "off",
            "database": "PostgreSQL 127.0.0.1:5432",
            "nginx": "deploy/nginx (Debian nginx)",
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "rounds": rounds,
        "summary": summary,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = REPO / "benchmarks" / "results" / "failover.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
