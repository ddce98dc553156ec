"""``polypdet worker``: take video jobs (``POST /api/jobs/video``) from the RQ queue on ``REDIS_URL``.

Start as many as the CPUs allow, on any hosts that share ``POLYPDET_HOME`` with the service. A job whose
worker dies is put back on the queue by the next worker that looks (every ``--maintenance-interval``
seconds), once its heartbeat is ``--grace`` seconds late. SIGTERM (or Ctrl-C) lets the current job finish
first; a second one stops it at once, and the job is retried like a dead worker's.
"""

from __future__ import annotations

import argparse
import socket
import uuid

from polypdet.cli.main import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", default=None, help="queue to take jobs from (default: JOB_QUEUE)")
    parser.add_argument("--name", default=None, help="worker name (default: host name + a random suffix)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument(
        "--heartbeat", type=int, default=10, metavar="S", help="seconds between a busy worker's heartbeats (10)"
    )
    parser.add_argument(
        "--grace", type=int, default=30, metavar="S", help="a job whose heartbeat is S seconds late is retried (30)"
    )
    parser.add_argument(
        "--maintenance-interval",
        type=int,
        default=30,
        metavar="S",
        help="seconds between an idle worker's looks for jobs of dead workers (30)",
    )


def run(args: argparse.Namespace) -> int:
    from redis import Redis, RedisError

    from polypdet.cli.security_common import load_settings
    from polypdet.video.jobs.rq_queue import VideoWorker

    if min(args.heartbeat, args.grace, args.maintenance_interval) < 1:
        raise CliError("--heartbeat, --grace and --maintenance-interval must be at least 1 second")
    settings = load_settings()
    if not settings.redis_url:
        raise CliError("REDIS_URL is not set: without Redis, `polypdet serve` runs video jobs in its own process")
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        connection.ping()
    except RedisError as error:
        raise CliError(f"cannot reach Redis at REDIS_URL: {error}") from None
    worker = VideoWorker(
        [args.queue or settings.job_queue],
        name=args.name or f"{socket.gethostname()}.{uuid.uuid4().hex[:6]}",
        connection=connection,
        job_monitoring_interval=args.heartbeat,
        maintenance_interval=args.maintenance_interval,
        # An idle worker wakes up every worker_ttl - 15 s (RQ's rule): then it can run the maintenance.
        worker_ttl=args.maintenance_interval + 15,
        heartbeat_grace_s=args.grace,
    )
    worker.work(burst=args.burst, logging_level=settings.log_level.upper())
    return 0
