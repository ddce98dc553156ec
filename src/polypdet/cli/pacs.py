"""``polypdet pacs listen``: receive images by C-STORE, analyse them, send the SR (and SC) on."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pacs_command", required=True, metavar="ACTION")
    listen = sub.add_parser("listen", help="run the C-STORE/C-ECHO listener", description=__doc__)
    listen.add_argument("--aet", default="POLYPDET", help="this listener's AE title (default POLYPDET)")
    listen.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    listen.add_argument("--port", type=int, default=11112, help="DICOM port (default 11112)")
    listen.add_argument(
        "--allow-aet",
        action="append",
        default=[],
        metavar="AET",
        help="calling AE title allowed to connect (repeat; default: any)",
    )
    listen.add_argument(
        "--dest",
        required=True,
        metavar="AET@HOST:PORT|URL",
        help="where results go: a PACS by C-STORE (AET@HOST:PORT) or a DICOMweb base URL by STOW-RS",
    )
    listen.add_argument("--outbox", type=Path, default=None, help="outbox folder (default POLYPDET_HOME/pacs-outbox)")
    listen.add_argument("--send-sc", action="store_true", help="also send a Secondary Capture with burned-in boxes")
    listen.add_argument("--max-det", type=int, default=50, help="most boxes per frame (default 50)")
    listen.add_argument("--retry-max", type=float, default=60.0, help="longest wait between retries, s (default 60)")
    add_model_arguments(listen)


def run(args: argparse.Namespace) -> int:
    from polypdet.clinical.pacs.destinations import parse_destination
    from polypdet.clinical.pacs.listener import ListenerConfig, PacsListener
    from polypdet.clinical.pacs.outbox import Backoff, Outbox, OutboxSender
    from polypdet.config import get_settings
    from polypdet.engine.detector import DetectParams

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be 1-65535, got {args.port}")
    if not 0 < len(args.aet) <= 16:
        raise CliError("--aet must be 1 to 16 characters")
    try:
        destination = parse_destination(args.dest, calling_aet=args.aet)
    except ValueError as error:
        raise CliError(str(error)) from None
    detector = load_detector(args)
    outbox = Outbox(args.outbox or get_settings().polypdet_home / "pacs-outbox")
    config = ListenerConfig(
        ae_title=args.aet,
        host=args.host,
        port=args.port,
        allowed_aets=tuple(args.allow_aet),
        send_sc=args.send_sc,
        params=DetectParams(conf=args.conf, max_det=args.max_det),
    )
    sender = OutboxSender(outbox, destination, Backoff(maximum_s=args.retry_max))
    listener = PacsListener(config, detector, outbox)
    try:
        listener.start()
    except OSError as error:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    sender.start()
    pending = len(outbox.pending())
    print(
        f"polypdet pacs: {args.aet} listening on {args.host}:{args.port}, sending to {destination.describe()}"
        + (f" ({pending} pending in the outbox)" if pending else ""),
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()
        sender.stop()
    return 0
