"""Nothing identifying at rest: the raw SQLite file and the PostgreSQL rows hold no PHI, secrets or result payload."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from auth_helpers import security
from fastapi.testclient import TestClient
from sqlalchemy import inspect, make_url, text

from dicom_samples import PATIENT, rgb_native
from polypdet.security.apikeys import split_key
from polypdet.security.crypto import Envelope
from polypdet.security.keys import FileKeyring
from polypdet.security.roles import Role
from polypdet.security.rotation import rewrap_all

PASSWORD = "correct horse battery"


def secret_of(api_key: str) -> str:
    """The whole secret part (it may itself contain "_": the last "_"-piece can be a few chars matching by chance)."""
    parts = split_key(api_key)
    assert parts is not None
    return parts[1]


def dicom_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    rgb_native(image).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def stored_bytes(client: TestClient) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row as text."""
    engine = security(client).engine
    if engine.dialect.name == "sqlite":
        path = make_url(str(engine.url)).database
        assert path
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        return b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        rows = [connection.execute(text(f'SELECT t::text FROM "{table}" t')).scalars().all() for table in tables]
    return "\n".join(str(value) for table in rows for value in table).encode()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_no_plaintext_phi_or_secrets_at_rest(
    backend: str,
    make_client: Callable[..., TestClient],
    request: pytest.FixtureRequest,
    polyp_image: np.ndarray,
    jpeg_bytes: bytes,
) -> None:
    url = request.getfixturevalue("empty_postgres_url") if backend == "postgres" else None
    client = make_client(database_url=url)
    context = security(client)
    context.users.create("dr.lee", PASSWORD, Role.CLINICIAN)
    totp_secret = context.users.enroll_totp("dr.lee").secret
    api_key = client.headers["X-API-Key"]
    dicom = client.post("/api/detect", content=dicom_bytes(polyp_image), headers={"content-type": "application/dicom"})
    image = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    assert dicom.status_code == image.status_code == 200
    assert image.json()["detections"], "the check below needs a stored box"

    raw = stored_bytes(client)
    secrets = {
        "patient name": PATIENT["PatientName"],
        "patient id": PATIENT["PatientID"],
        "password": PASSWORD,
        "TOTP secret": totp_secret,
        "API key secret": secret_of(api_key),
        "result payload": '"confidence"',
        "box coordinates": str(image.json()["detections"][0]["bbox"][0]),
    }
    leaked = [name for name, value in secrets.items() if value.encode() in raw or value.encode().hex().encode() in raw]
    assert leaked == []
    pixels = jpeg_bytes[2000:2048]
    assert pixels not in raw and base64.b64encode(pixels) not in raw and pixels.hex().encode() not in raw

    # The encrypted payload still reads back, also after the master key was rotated.
    keyring = context.provider
    assert isinstance(keyring, FileKeyring)
    old = keyring.current_key_id
    keyring.add_current()
    moved = rewrap_all(context.engine, Envelope(keyring))
    assert moved["results.payload"] == 2 and moved["users.totp_secret"] == 1
    keyring.retire([old])
    stored = client.get(f"/api/results/{image.json()['id']}").json()
    assert stored["detections"] == image.json()["detections"]
