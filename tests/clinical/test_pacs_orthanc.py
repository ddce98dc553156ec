"""The PACS listener against real peers: dcmtk's storescu/echoscu send to it, it sends SRs to a real Orthanc."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.encaps import encapsulate

from conftest import Listener, Orthanc, echo, free_port, start_listener, start_orthanc, storescu, wait_for
from dicom_samples import TRANSFER_SYNTAXES, rgb_compressed, to_bytes, ybr_jpeg_baseline
from polypdet.clinical.sr import read_polyps
from polypdet.engine.postprocess import box_iou
from polypdet.io.images import read_image
from polypdet.security.deid import Pseudonymizer

pytestmark = pytest.mark.usefixtures("dcmtk")


@pytest.fixture(scope="module")
def listener(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    running = start_listener(tmp_path_factory.mktemp("outbox"), f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}")
    yield running
    running.stop()


def _study(polyp_image: np.ndarray, data: Path, folder: Path) -> list[pydicom.Dataset]:
    """Two instances of one study: the polyp image as YBR JPEG baseline, another Kvasir image as JPEG-LS."""
    first = ybr_jpeg_baseline(polyp_image)
    other = read_image(data / "kvasir-seg/images/cju0roawvklrq0799vmjorwfv.jpg")
    second = rgb_compressed(other, TRANSFER_SYNTAXES["jpeg-ls"])
    second.StudyInstanceUID, second.SeriesInstanceUID, second.InstanceNumber = (
        first.StudyInstanceUID,
        first.SeriesInstanceUID,
        2,
    )
    folder.mkdir()
    for number, ds in enumerate((first, second), start=1):
        (folder / f"IM{number}.dcm").write_bytes(to_bytes(ds))
    return [first, second]


def _srs_for(orthanc: Orthanc, sop_instance_uids: set[str]) -> dict[str, pydicom.Dataset]:
    found = {}
    for data in orthanc.sr_instances():
        sr = pydicom.dcmread(io.BytesIO(data))
        source = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        uid = str(source.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        if uid in sop_instance_uids:
            found[uid] = sr
    return found


def test_storescu_a_study_and_the_srs_appear_in_orthanc(
    listener: Listener, orthanc: Orthanc, detector, polyp_image: np.ndarray, data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sent = _study(polyp_image, data, tmp_path / "study")
    for path in sorted((tmp_path / "study").iterdir()):
        done = storescu(listener.port, path)
        assert done.returncode == 0 and "Received Store Response (Success)" in done.stderr, done.stderr
    uids = {str(ds.SOPInstanceUID) for ds in sent}
    srs = wait_for(lambda: found if len(found := _srs_for(orthanc, uids)) == 2 else None)
    assert srs, f"SRs did not reach Orthanc: {listener.outbox}"

    sr = srs[str(sent[0].SOPInstanceUID)]
    assert sr.PatientID == sent[0].PatientID and sr.StudyInstanceUID == sent[0].StudyInstanceUID
    assert sr.AccessionNumber == "ACC42" and sr.Modality == "SR"
    polyps = read_polyps(sr)
    plain = detector.detect(polyp_image)
    assert len(polyps) == len(plain) >= 1
    for polyp in polyps:
        assert polyp.referenced_sop_instance_uid == sent[0].SOPInstanceUID
        iou = box_iou(np.asarray(polyp.bbox, np.float32), plain.xyxy).max()
        assert iou > 0.95  # YBR JPEG baseline vs the plain JPEG: the same polyp, the same place
    assert max(p.confidence for p in polyps) == pytest.approx(float(plain.confidence.max()), abs=0.05)


def test_orthanc_routes_an_instance_to_the_listener_and_gets_the_sr_back(
    listener: Listener, orthanc: Orthanc, polyp_image: np.ndarray
) -> None:
    modality = {"AET": listener.aet, "Host": "127.0.0.1", "Port": listener.port}
    requests.put(f"{orthanc.url}/modalities/polypdet", json=modality, timeout=10).raise_for_status()
    assert requests.post(f"{orthanc.url}/modalities/polypdet/echo", json={}, timeout=30).status_code == 200
    ds = rgb_compressed(polyp_image, TRANSFER_SYNTAXES["jpeg2000"])
    stored = requests.post(f"{orthanc.url}/instances", data=to_bytes(ds), timeout=30).json()
    pushed = requests.post(f"{orthanc.url}/modalities/polypdet/store", json=[stored["ID"]], timeout=60)
    assert pushed.status_code == 200, pushed.text
    srs = wait_for(lambda: _srs_for(orthanc, {str(ds.SOPInstanceUID)}))
    assert srs and read_polyps(srs[str(ds.SOPInstanceUID)])


def test_unknown_calling_ae_is_rejected(listener: Listener) -> None:
    refused = echo(listener.port, calling="INTRUDER")
    assert refused.returncode != 0
    assert "reject" in (refused.stdout + refused.stderr).lower()
    assert echo(listener.port).returncode == 0


def test_corrupt_instance_gets_a_failure_status_and_the_listener_keeps_running(
    listener: Listener, polyp_image: np.ndarray, tmp_path: Path
) -> None:
    ds = ybr_jpeg_baseline(polyp_image)
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"])
    path = tmp_path / "corrupt.dcm"
    path.write_bytes(to_bytes(ds))
    done = storescu(listener.port, path)
    output = (done.stdout + done.stderr).lower()
    assert "store response (error: cannotunderstand)" in output, output  # 0xC211, not a crash or abort
    assert listener.process.poll() is None
    assert echo(listener.port).returncode == 0


def test_destination_down_keeps_the_sr_and_delivers_it_when_it_is_back(polyp_image: np.ndarray, tmp_path: Path) -> None:
    """Orthanc is down, the listener is even restarted meanwhile: the SR waits on disk and arrives later."""
    dicom_port = free_port()
    outbox = tmp_path / "outbox"
    dest = f"ORTHANC@127.0.0.1:{dicom_port}"
    ds = ybr_jpeg_baseline(polyp_image)
    (tmp_path / "in.dcm").write_bytes(to_bytes(ds))

    first = start_listener(outbox, dest)
    assert storescu(first.port, tmp_path / "in.dcm").returncode == 0  # success: the SR is safe on disk
    assert len(list((outbox / "pending").glob("*.dcm"))) == 1
    output = first.stop()
    assert "will retry" in output  # it did try, and failed, while Orthanc was down
    assert len(list((outbox / "pending").glob("*.dcm"))) == 1

    second = start_listener(outbox, dest)
    orthanc = start_orthanc(tmp_path / "orthanc", dicom_port=dicom_port)
    try:
        srs = wait_for(lambda: _srs_for(orthanc, {str(ds.SOPInstanceUID)}), timeout_s=30)
        assert srs and read_polyps(srs[str(ds.SOPInstanceUID)])
        assert wait_for(lambda: not list((outbox / "pending").glob("*.dcm")), timeout_s=10)
    finally:
        second.stop()
        orthanc.stop()


def test_send_sc_too(orthanc: Orthanc, polyp_image: np.ndarray, tmp_path: Path) -> None:
    running = start_listener(tmp_path / "outbox", f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}", "--send-sc")
    try:
        ds = rgb_compressed(polyp_image, TRANSFER_SYNTAXES["rle"])
        (tmp_path / "in.dcm").write_bytes(to_bytes(ds))
        assert storescu(running.port, tmp_path / "in.dcm").returncode == 0
        assert wait_for(lambda: _sc_in(orthanc, ds)), "no SC in Orthanc"
    finally:
        running.stop()


def _sc_in(orthanc: Orthanc, source: pydicom.Dataset) -> bool:
    for series in orthanc.get("/series?expand").json():
        tags = series["MainDicomTags"]
        if tags.get("Modality") == "OT" and tags.get("SeriesNumber") == "901":
            for instance in series["Instances"]:
                sc = pydicom.dcmread(io.BytesIO(orthanc.get(f"/instances/{instance}/file").content))
                if sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID:
                    return sc.BurnedInAnnotation == "YES" and sc.StudyInstanceUID == source.StudyInstanceUID
    return False


def test_deidentify_flag_sends_srs_of_the_deidentified_study(
    orthanc: Orthanc, polyp_image: np.ndarray, tmp_path: Path
) -> None:
    key = "a pseudonym key for the listener test, 32+ bytes"
    dest = f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"
    running = start_listener(tmp_path / "outbox", dest, "--deidentify", env={"PSEUDONYM_KEY": key})
    try:
        ds = ybr_jpeg_baseline(polyp_image)
        (tmp_path / "in.dcm").write_bytes(to_bytes(ds))
        assert storescu(running.port, tmp_path / "in.dcm").returncode == 0
        pseudonyms = Pseudonymizer(key.encode())
        new_uid = pseudonyms.uid(str(ds.SOPInstanceUID))
        srs = wait_for(lambda: _srs_for(orthanc, {new_uid}), timeout_s=30)
    finally:
        output = running.stop()
    assert srs, "no SR of the de-identified instance in Orthanc"
    sr = srs[new_uid]
    assert sr.PatientID == pseudonyms.patient_id(str(ds.PatientID)) and sr.PatientIdentityRemoved == "YES"
    assert sr.StudyInstanceUID == pseudonyms.uid(str(ds.StudyInstanceUID))
    assert not _srs_for(orthanc, {str(ds.SOPInstanceUID)})  # nothing refers to the original instance
    assert "de-identifying" in output and str(ds.SOPInstanceUID) not in output and "Doe^Jane" not in output
