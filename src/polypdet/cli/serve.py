"""``polypdet serve``: the HTTP service on uvicorn (settings from the environment, see ``polypdet.config``)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="bind address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.main import CliError

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    # Before prometheus_client is imported anywhere: every worker writes its samples into this folder.
    own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="polypdet-metrics-"))

    import uvicorn

    from polypdet.api.logs import configure_logging, logging_config
    from polypdet.config import get_settings
    from polypdet.store import ResultStore

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        # Migrate once here so that several workers never race to create the same tables.
        ResultStore.open(settings.resolved_database_url).close()
    except Exception as error:
        raise CliError(f"cannot open the results store: {error}") from None
    try:
        uvicorn.run(
            "polypdet.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=logging_config(settings.log_level, settings.log_json),
            access_log=False,
        )
    finally:
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
