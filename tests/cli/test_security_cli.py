"""``polypdet keys|users|audit|anonymize`` as an operator runs them (in-process, plus the real entry point once)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, VLEndoscopicImageStorage, generate_uid
from sqlalchemy import text

from polypdet.cli.main import main
from polypdet.config import Settings
from polypdet.security.apikeys import split_key
from polypdet.security.context import SecurityContext, open_security
from polypdet.security.roles import Role
from polypdet.security.totp import code_at

PASSWORD = "correct horse battery"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "MASTER_KEY", "MASTER_KEY_FILE", "JWT_SECRET", "PSEUDONYM_KEY", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLYPDET_HOME", str(tmp_path / "var"))
    return tmp_path / "var"


@pytest.fixture
def context(home: Path) -> Iterator[SecurityContext]:
    context = open_security(Settings())
    yield context
    context.engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_list_revoke(home: Path, context: SecurityContext, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "--role", "clinician", "--name", "endo-room-3")
    assert code == 0
    key = out.strip().splitlines()[-1]
    identity = context.api_keys.authenticate(key)
    assert identity is not None and identity.name == "endo-room-3"
    parts = split_key(key)
    assert parts is not None
    code, out, _ = run(capsys, "keys", "list")
    assert identity.prefix in out and parts[1] not in out and "active" in out
    code, out, _ = run(capsys, "keys", "revoke", identity.prefix)
    assert code == 0 and context.api_keys.authenticate(key) is None
    code, out, _ = run(capsys, "keys", "list", "--all", "--json")
    assert json.loads(out)[0]["revoked"] is True
    code, _, err = run(capsys, "keys", "revoke", identity.prefix)
    assert code == 2 and err.count("\n") == 1 and "no live API key" in err
    code, _, err = run(capsys, "keys", "create", "--role", "root", "--name", "x")
    assert code == 2 and "unknown role 'root'" in err
    actions = [r["action"] for r in context.audit.export()]
    assert actions == ["key.created", "key.revoked"]


def test_users_and_login(home: Path, context: SecurityContext, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "users", "create", "alice", "--role", "clinician", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 12 characters" in err
    code, _, _ = run(capsys, "users", "create", "alice", "--role", "clinician", "--password-stdin", stdin=PASSWORD)
    assert code == 0
    qr = home.parent / "alice.png"
    code, out, _ = run(capsys, "users", "enroll-totp", "alice", "--qr", str(qr))
    uri = out.strip().splitlines()[-1]
    assert code == 0 and uri.startswith("otpauth://totp/polypdet:alice?secret=")
    assert (qr.stat().st_mode & 0o777) == 0o600 and Image.open(qr).format == "PNG"
    secret = uri.split("secret=")[1].split("&")[0]
    user = context.users.authenticate("alice", PASSWORD, code_at(secret, context.clock()))
    assert user.username == "alice"
    code, out, _ = run(capsys, "users", "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["username"], listed["role"], listed["totp"], listed["disabled"]) == (
        "alice",
        "clinician",
        True,
        False,
    )
    code, out, _ = run(capsys, "users", "disable", "alice")
    assert code == 0 and context.users.require("alice").disabled
    code, _, err = run(capsys, "users", "disable", "mallory")
    assert code == 2 and "no user 'mallory'" in err


def test_rotate_master_keeps_secrets_readable(
    home: Path, context: SecurityContext, capsys: pytest.CaptureFixture[str]
) -> None:
    context.users.create("alice", PASSWORD, Role.ADMIN)
    secret = context.users.enroll_totp("alice").secret
    old = context.provider.current_key_id
    code, out, _ = run(capsys, "keys", "rotate-master")
    assert code == 0 and "1 data keys re-wrapped" in out
    keyring = json.loads((home / "keys" / "master.json").read_text())
    assert list(keyring["keys"]) == [keyring["current"]] and keyring["current"] != old
    fresh = open_security(Settings())
    try:
        assert fresh.users.authenticate("alice", PASSWORD, code_at(secret, fresh.clock())).username == "alice"
    finally:
        fresh.engine.dispose()


def test_rotate_master_keeps_sealed_files_readable(
    home: Path, context: SecurityContext, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PACS outbox and video-job outputs move to the new key too: the old one is retired afterwards."""
    from polypdet.clinical.pacs.outbox import Outbox
    from polypdet.security.crypto import Envelope
    from polypdet.security.keys import FileKeyring
    from polypdet.security.sealed_files import FileSealer
    from polypdet.video.jobs.records import JobFiles

    dataset = pydicom.Dataset()
    dataset.SOPInstanceUID, dataset.SOPClassUID, dataset.PatientName = generate_uid(), VLEndoscopicImageStorage, "Doe^J"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pending = Outbox(home / "pacs-outbox", context.envelope).put(dataset)
    job = JobFiles.of(home, "job1")
    job.root.mkdir(parents=True)
    FileSealer(context.provider).write_bytes(job.csv, b"frame,x1\n" * 20000, job.aad(job.csv))
    code, out, _ = run(capsys, "keys", "rotate-master")
    assert code == 0 and "pacs-outbox files: 1" in out and "video-job files: 1" in out

    keyring = FileKeyring(home / "keys" / "master.json")
    assert len(keyring.key_ids) == 1, "the old master key should be retired"
    assert Outbox(home / "pacs-outbox", Envelope(keyring)).read(pending).PatientName == "Doe^J"
    assert FileSealer(keyring).open(job.csv, job.aad(job.csv)).read_all() == b"frame,x1\n" * 20000


def test_audit_verify_and_export(home: Path, context: SecurityContext, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b", "c"):
        run(capsys, "keys", "create", "--role", "service", "--name", name)
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "intact: 3 records" in out
    head = out.split("head ")[1].strip()
    exported = home.parent / "audit.json"
    code, _, _ = run(capsys, "audit", "export", "-o", str(exported))
    document = json.loads(exported.read_text())
    assert code == 0 and document["chain_ok"] and document["head_hash"] == head and len(document["records"]) == 3
    with context.engine.begin() as connection:
        connection.execute(text('UPDATE audit_log SET details = \'{"role": "admin"}\' WHERE seq = 2'))
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "BROKEN at record 2: contents changed" in err
    with context.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= 2"))
    code, _, err = run(capsys, "audit", "verify", "--expect-head", head)
    assert code == 1 and "cut off the end" in err


def dicom_file(path: Path) -> str:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = VLEndoscopicImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = VLEndoscopicImageStorage, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate = "Doe^Jane", "PDT-0001", "20260115"
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored = 1, "MONOCHROME2", 8, 8
    ds.HighBit, ds.PixelRepresentation, ds.PixelData = 7, 0, bytes(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def test_anonymize_folder_with_a_bad_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, target = home.parent / "export", home.parent / "clean"
    dicom_file(source / "Doe_Jane" / "IMG0001.dcm")
    exif = Image.Exif()
    exif[0x013B] = "Doe^Jane"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(source / "Doe_Jane" / "frame.jpg", exif=exif)
    (source / "notes.txt").write_text("Jane's notes")
    code, out, err = run(capsys, "anonymize", str(source), str(target), "--shift-dates")
    assert code == 1 and err.count("\n") == 1 and "notes.txt: not DICOM, JPEG, PNG or TIFF" in err
    assert "2 files de-identified" in out
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    dicom_out = [p for p in written if p.endswith(".dcm")]
    assert len(dicom_out) == 1 and "Doe" not in dicom_out[0] and dicom_out[0].count("/") == 2
    ds = pydicom.dcmread(target / dicom_out[0])
    assert ds.PatientID.startswith("ANON-") and ds.PatientIdentityRemoved == "YES" and ds.StudyDate != "20260115"
    assert b"Doe^Jane" not in (target / "Doe_Jane" / "frame.jpg").read_bytes()
    single = home.parent / "one.dcm"
    code, _, _ = run(capsys, "anonymize", str(source / "Doe_Jane" / "IMG0001.dcm"), str(single))
    assert code == 0 and pydicom.dcmread(single).PatientName != "Doe^Jane"
    code, _, err = run(capsys, "anonymize", str(home.parent / "missing"), str(target))
    assert code == 2 and "no such file or folder" in err


def test_production_without_secrets_refuses_to_run(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    code, _, err = run(capsys, "keys", "list")
    assert code == 2 and "MASTER_KEY" in err and "JWT_SECRET" in err and err.count("\n") == 1


def test_entry_point_prints_the_key_last(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "keys", "create", "--role", "admin", "--name", "ops"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("pdk_")
