"""``polypdet pacs listen``: receive images by C-STORE, analyse them, send the SR (and SC) on."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from polypdet.config import Settings
    from polypdet.security.deid import DicomDeidentifier


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
    listen.add_argument(
        "--deidentify",
        action="store_true",
        default=None,
        help="de-identify each received instance (PS3.15 Basic Profile, pseudonyms keyed by PSEUDONYM_KEY) "
        "before analysis, so the results refer to the de-identified study (default: PACS_DEIDENTIFY)",
    )
    listen.add_argument("--max-det", type=int, default=50, help="most boxes per frame (default 50)")
    listen.add_argument("--retry-max", type=float, default=60.0, help="longest wait between retries, s (default 60)")
    add_model_arguments(listen)


def ingestion_deidentifier(args: argparse.Namespace, settings: Settings) -> DicomDeidentifier | None:
    """With ``--deidentify`` or ``PACS_DEIDENTIFY``: the de-identifier, keyed by the pseudonym key of the key store."""
    if not (args.deidentify or settings.pacs_deidentify):
        return None
    from polypdet.security.deid import DicomDeidentifier, Pseudonymizer
    from polypdet.security.keys import load_secret

    return DicomDeidentifier(Pseudonymizer(load_secret(settings, "pseudonym_key")))


def run(args: argparse.Namespace) -> int:
    from polypdet.clinical.pacs.destinations import parse_destination
    from polypdet.clinical.pacs.listener import ListenerConfig, PacsListener
    from polypdet.clinical.pacs.outbox import Backoff, Outbox, OutboxSender
    from polypdet.config import get_settings
    from polypdet.engine.detector import DetectParams
    from polypdet.security.crypto import Envelope
    from polypdet.security.keys import KeyConfigError, key_provider_from_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be 1-65535, got {args.port}")
    if not 0 < len(args.aet) <= 16:
        raise CliError("--aet must be 1 to 16 characters")
    try:
        destination = parse_destination(args.dest, calling_aet=args.aet)
    except ValueError as error:
        raise CliError(str(error)) from None
    settings = get_settings()
    try:
        envelope = Envelope(key_provider_from_settings(settings))
        deidentifier = ingestion_deidentifier(args, settings)
    except (KeyConfigError, ValueError) as error:
        raise CliError(str(error)) from None
    detector = load_detector(args)
    outbox = Outbox(args.outbox or settings.polypdet_home / "pacs-outbox", envelope)
    config = ListenerConfig(
        ae_title=args.aet,
        host=args.host,
        port=args.port,
        allowed_aets=tuple(args.allow_aet),
        send_sc=args.send_sc,
        params=DetectParams(conf=args.conf, max_det=args.max_det),
    )
    sender = OutboxSender(outbox, destination, Backoff(maximum_s=args.retry_max))
    listener = PacsListener(config, detector, outbox, deidentifier)
    try:
        listener.start()
    except OSError as error:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    sender.start()
    pending = len(outbox.pending())
    print(
        f"polypdet pacs: {args.aet} listening on {args.host}:{args.port}, sending to {destination.describe()}"
        + (", de-identifying what it receives" if deidentifier else "")
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
