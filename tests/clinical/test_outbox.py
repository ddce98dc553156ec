"""The outbox and its destinations against a real Orthanc: C-STORE, STOW-RS, refusals, order, back-off and
encryption at rest."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import DICOMWEB_PLUGIN, Orthanc, free_port, wait_for
from dicom_samples import rgb_native, to_bytes
from polypdet.clinical.pacs.destinations import (
    CStoreDestination,
    DeliveryError,
    StowRsDestination,
    parse_destination,
)
from polypdet.clinical.pacs.outbox import Backoff, Outbox, OutboxSender
from polypdet.clinical.sr import build_sr, read_polyps
from polypdet.detections import Detections
from polypdet.io.dicom import read_dicom_bytes
from polypdet.security.crypto import DecryptionError, Envelope
from polypdet.security.keys import LocalKeyProvider

ENVELOPE = Envelope(LocalKeyProvider.generate())


def _sr(seed: int = 0) -> pydicom.Dataset:
    source = read_dicom_bytes(to_bytes(rgb_native(np.full((32, 48, 3), seed, np.uint8))))
    sr = build_sr(source, Detections(xyxy=[[1, 2, 20 + seed, 30]], confidence=[0.9]), "v1")
    return pydicom.dcmread(io.BytesIO(to_bytes(sr)))


def _in_orthanc(orthanc: Orthanc, sr: pydicom.Dataset) -> bool:
    return any(pydicom.dcmread(io.BytesIO(d)).SOPInstanceUID == sr.SOPInstanceUID for d in orthanc.sr_instances())


def test_parse_destination() -> None:
    assert parse_destination("PACS@10.0.0.5:104") == CStoreDestination("PACS", "10.0.0.5", 104)
    assert parse_destination("https://pacs/dicom-web/") == StowRsDestination("https://pacs/dicom-web")
    for bad in ("PACS", "PACS@host", "A@h:0", "WAYTOOLONGAETITLE1@h:104"):
        with pytest.raises(ValueError):
            parse_destination(bad)


def test_put_is_durable_and_ordered(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    first, second = outbox.put(_sr(1)), outbox.put(_sr(2))
    assert outbox.pending() == [first, second]
    assert not list((tmp_path / "tmp").iterdir())
    assert read_polyps(outbox.read(first))[0].bbox[2] == 21.0


def test_files_on_disk_are_sealed_and_open_only_under_their_own_name(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    sr = _sr(1)
    pending, refused = outbox.put(sr), outbox.put(_sr(2))
    outbox.mark_failed(refused, "refused")
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".dcm"]
    assert len(files) == 2
    for path in files:
        raw = path.read_bytes()
        for secret in (b"DICM", b"Doe^Jane", b"PDT-0001", b"ACC42", sr.StudyInstanceUID.encode()):
            assert secret not in raw, (path, secret)
    opened = outbox.read(pending)
    assert (opened.PatientName, opened.PatientID, opened.SOPInstanceUID) == ("Doe^Jane", "PDT-0001", sr.SOPInstanceUID)
    assert outbox.read(outbox.failed()[0]).PatientID == "PDT-0001"
    swapped = tmp_path / "pending" / refused.name  # a sealed file copied over another item's name does not open
    swapped.write_bytes(pending.read_bytes())
    with pytest.raises(DecryptionError):
        outbox.read(swapped)
    with pytest.raises(DecryptionError):  # nor under another master key
        Outbox(tmp_path, Envelope(LocalKeyProvider.generate())).read(pending)


def test_a_file_that_does_not_open_is_set_aside(tmp_path: Path) -> None:
    class Records:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def describe(self) -> str:
            return "records"

        def send(self, dataset: pydicom.Dataset) -> None:
            self.sent.append(str(dataset.SOPInstanceUID))

    outbox = Outbox(tmp_path, ENVELOPE)
    tampered, good = outbox.put(_sr(1)), _sr(2)
    outbox.put(good)
    sealed = bytearray(tampered.read_bytes())
    sealed[-1] ^= 1
    tampered.write_bytes(bytes(sealed))
    destination = Records()
    assert outbox.deliver_pending(destination)
    assert destination.sent == [good.SOPInstanceUID] and outbox.pending() == []
    assert "authentication failed" in (tmp_path / "failed" / f"{tampered.stem}.txt").read_text()


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(initial_s=1, factor=2, maximum_s=5)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


def test_cstore_delivery_to_orthanc(orthanc: Orthanc, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    sr = _sr(3)
    outbox.put(sr)
    assert outbox.deliver_pending(CStoreDestination(orthanc.aet, "127.0.0.1", orthanc.dicom_port))
    assert outbox.pending() == [] and _in_orthanc(orthanc, sr)


@pytest.mark.skipif(not DICOMWEB_PLUGIN.exists(), reason="orthanc-dicomweb is not installed (.ci/run installs it)")
def test_stow_rs_delivery_to_orthanc(orthanc: Orthanc, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    sr = _sr(4)
    outbox.put(sr)
    assert outbox.deliver_pending(StowRsDestination(f"{orthanc.url}/dicom-web"))
    assert outbox.pending() == [] and _in_orthanc(orthanc, sr)


def test_unreachable_or_rejecting_destination_keeps_everything(orthanc: Orthanc, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    outbox.put(_sr(5))
    outbox.put(_sr(6))
    for destination in (
        CStoreDestination("NOBODY", "127.0.0.1", free_port(), timeout_s=2),  # nothing listens
        StowRsDestination(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2),
    ):
        assert outbox.deliver_pending(destination) is False
        assert len(outbox.pending()) == 2 and outbox.failed() == []


def test_permanent_refusal_goes_to_failed_and_does_not_block_the_queue(orthanc: Orthanc, tmp_path: Path) -> None:
    class RefusesTheFirst:
        def __init__(self) -> None:
            self.real = CStoreDestination(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
            self.calls = 0

        def describe(self) -> str:
            return "refuses the first"

        def send(self, dataset: pydicom.Dataset) -> None:
            self.calls += 1
            if self.calls == 1:
                raise DeliveryError("status 0xA900", permanent=True)
            self.real.send(dataset)

    outbox = Outbox(tmp_path, ENVELOPE)
    refused, delivered = outbox.put(_sr(7)), _sr(8)
    outbox.put(delivered)
    assert outbox.deliver_pending(RefusesTheFirst())
    assert outbox.pending() == [] and [p.name for p in outbox.failed()] == [refused.name]
    assert "0xA900" in (tmp_path / "failed" / f"{refused.stem}.txt").read_text()
    assert _in_orthanc(orthanc, delivered)


def test_sender_thread_delivers_what_is_put(orthanc: Orthanc, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, ENVELOPE)
    sender = OutboxSender(outbox, CStoreDestination(orthanc.aet, "127.0.0.1", orthanc.dicom_port), Backoff(0.1))
    sender.start()
    try:
        time.sleep(0.2)
        sr = _sr(9)
        outbox.put(sr)
        assert wait_for(lambda: not outbox.pending(), timeout_s=20) and _in_orthanc(orthanc, sr)
    finally:
        sender.stop()
