"""``polypdet serve``: the HTTP service on uvicorn (settings from the environment, see ``polypdet.config``)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="bind address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    parser.add_argument(
        "--ssl-certfile", default=None, help="serve HTTPS (TLS 1.2+, 1.3 preferred) with this PEM chain"
    )
    parser.add_argument("--ssl-keyfile", default=None, help="the certificate's private key (PEM)")


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.main import CliError

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    if args.ssl_keyfile and not args.ssl_certfile:
        raise CliError("--ssl-keyfile needs --ssl-certfile")
    for path in (args.ssl_certfile, args.ssl_keyfile):
        if path and not os.path.isfile(path):
            raise CliError(f"no such file: {path}")
    # Before prometheus_client is imported anywhere: every worker writes its samples into this folder.
    own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="polypdet-metrics-"))

    import uvicorn

    from polypdet.api.logs import configure_logging, logging_config
    from polypdet.cli.security_common import load_settings, open_context
    from polypdet.security.bootstrap import ensure_first_admin_key
    from polypdet.security.tls import uvicorn_ssl_context
    from polypdet.store.migrate import upgrade_in_child

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Migrate once, before any worker starts, in a child process (Alembic stays out of the serving processes);
    # then create the keys and secrets once.
    try:
        upgrade_in_child(settings.resolved_database_url)
    except subprocess.CalledProcessError:
        raise CliError("the database could not be migrated (the reason is printed above)") from None
    context = open_context()
    try:
        first_key = ensure_first_admin_key(context)
    finally:
        context.engine.dispose()
    if first_key:
        print(first_key.banner(), flush=True)
    tls = {}
    if args.ssl_certfile:
        tls = {
            "ssl_certfile": args.ssl_certfile,
            "ssl_keyfile": args.ssl_keyfile,
            "ssl_context_factory": uvicorn_ssl_context,
        }
    try:
        uvicorn.run(
            "polypdet.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=logging_config(settings.log_level, settings.log_json),
            access_log=False,
            server_header=False,
            **tls,
        )
    finally:
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
