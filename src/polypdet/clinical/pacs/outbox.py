"""A persisted outbox: objects to send are files on disk until the destination has taken them.

``put`` writes a file atomically (temporary name, fsync, rename) before the C-STORE that produced it is
answered, so a crash or a stop loses nothing: pending files are sent on the next start. The files are sealed
with the envelope encryption of :mod:`polypdet.security.crypto` (bound to their file name) and opened only to be
sent: on disk they show neither patient data nor a DICOM header; :meth:`Outbox.read` opens one. A sender thread
delivers them oldest first; while the destination is down it backs off exponentially (the queue waits as a
whole, no object is skipped). An object the destination refuses for good goes to ``failed/`` with the reason,
to be looked at and re-queued by moving it back to ``pending/``.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread

from polypdet.clinical.pacs.destinations import DeliveryError, Destination
from polypdet.security.crypto import Envelope, record_aad

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th retry: ``initial * factor ** (n - 1)``, at most ``maximum`` seconds."""

    initial_s: float = 1.0
    factor: float = 2.0
    maximum_s: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.initial_s * self.factor ** max(failures - 1, 0), self.maximum_s))


class Outbox:
    """Files under ``directory``: ``pending/`` to send, ``failed/`` refused for good, ``tmp/`` being written."""

    def __init__(self, directory: Path, envelope: Envelope) -> None:
        self.envelope = envelope
        self.pending_dir = directory / "pending"
        self.failed_dir = directory / "failed"
        self._tmp_dir = directory / "tmp"
        for folder in (self.pending_dir, self.failed_dir, self._tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.changed = threading.Event()

    def put(self, dataset: Dataset) -> Path:
        """Persist ``dataset`` for sending; returns its file once it is durably on disk."""
        name = f"{time.time_ns():020d}-{dataset.SOPInstanceUID}.dcm"
        plain = io.BytesIO()
        dataset.save_as(plain, enforce_file_format=True)
        final = self._store(self.pending_dir, name, self.envelope.seal(plain.getvalue(), outbox_aad(name)))
        self.changed.set()
        return final

    def rewrap(self, path: Path) -> bool:
        """Wrap a pending or failed file's data key with the current master key; False if it already is."""
        blob = path.read_bytes()
        rewrapped = self.envelope.rewrap(blob, outbox_aad(path.name))
        if rewrapped == blob:
            return False
        self._store(path.parent, path.name, rewrapped)
        return True

    def _store(self, folder: Path, name: str, data: bytes) -> Path:
        """Write ``data`` as ``folder/name`` durably: a temporary file, fsync, then rename."""
        tmp = self._tmp_dir / name
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        final = folder / name
        os.replace(tmp, final)
        return final

    def read(self, path: Path) -> Dataset:
        """The dataset in a pending or failed file; ``DecryptionError`` (a ``ValueError``) if it does not open."""
        return dcmread(io.BytesIO(self.envelope.open(path.read_bytes(), outbox_aad(path.name))))

    def pending(self) -> list[Path]:
        """Files waiting to be sent, oldest first."""
        return sorted(self.pending_dir.glob("*.dcm"))

    def failed(self) -> list[Path]:
        return sorted(self.failed_dir.glob("*.dcm"))

    def sealed_files(self) -> list[Path]:
        """Every object at rest here, pending or failed (each sealed with the envelope)."""
        return self.pending() + self.failed()

    def mark_failed(self, path: Path, reason: str) -> None:
        (self.failed_dir / f"{path.stem}.txt").write_text(reason + "\n")
        os.replace(path, self.failed_dir / path.name)

    def deliver_pending(self, destination: Destination) -> bool:
        """Send every pending file in order; stop at the first transient failure (returns False then)."""
        for path in self.pending():
            try:
                destination.send(self.read(path))
            except DeliveryError as error:
                if not error.permanent:
                    log.warning("outbox: %s: %s (will retry)", path.name, error)
                    return False
                log.error("outbox: %s refused for good, moved to failed/: %s", path.name, error)
                self.mark_failed(path, str(error))
                continue
            except (OSError, ValueError) as error:  # unreadable or unopenable: keep it aside, do not block the queue
                self.mark_failed(path, f"cannot read: {error}")
                continue
            path.unlink()
            log.info("outbox: sent %s to %s", path.name, destination.describe())
        return True


def outbox_aad(name: str) -> bytes:
    """A sealed file opens under its own name only: a file copied over another one does not open."""
    return record_aad("pacs-outbox", name)


class OutboxSender:
    """A daemon thread delivering an :class:`Outbox` to one destination with back-off."""

    def __init__(self, outbox: Outbox, destination: Destination, backoff: Backoff | None = None) -> None:
        self.outbox = outbox
        self.destination = destination
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polypdet-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.outbox.changed.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self.outbox.changed.clear()
            try:
                delivered = self.outbox.deliver_pending(self.destination)
            except Exception:  # never let the sender die: log and retry like a transient failure
                log.exception("outbox: unexpected error while sending")
                delivered = False
            failures = 0 if delivered else failures + 1
            # idle: sleep until something is put; down: back off (a new object does not cut the wait short)
            if failures:
                self._stop.wait(self.backoff.delay(failures))
            else:
                self.outbox.changed.wait(self.backoff.maximum_s)
