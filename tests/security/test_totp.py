"""TOTP: enrolment, one-step drift, replay refused."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from PIL import Image

from polypdet.security.totp import code_at, matching_step, new_enrolment

NOW = datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC)


def test_enrolment_uri_and_qr_code() -> None:
    enrolment = new_enrolment("alice")
    uri = urlparse(enrolment.provisioning_uri)
    assert uri.scheme == "otpauth" and uri.netloc == "totp" and uri.path == "/polypdet:alice"
    query = parse_qs(uri.query)
    assert query["secret"] == [enrolment.secret] and query["issuer"] == ["polypdet"]
    assert len(enrolment.secret) == 32
    with Image.open(io.BytesIO(enrolment.qr_png())) as image:
        assert image.format == "PNG" and image.size[0] == image.size[1] > 100


def test_current_and_adjacent_steps_are_accepted_once() -> None:
    secret = new_enrolment("alice").secret
    step = matching_step(secret, code_at(secret, NOW), NOW, None)
    assert step is not None
    assert matching_step(secret, code_at(secret, NOW - timedelta(seconds=30)), NOW, None) == step - 1
    assert matching_step(secret, code_at(secret, NOW + timedelta(seconds=30)), NOW, None) == step + 1
    # Replay: the same code, or an older one, after a login at ``step``.
    assert matching_step(secret, code_at(secret, NOW), NOW, step) is None
    assert matching_step(secret, code_at(secret, NOW - timedelta(seconds=30)), NOW, step) is None


def test_old_codes_and_garbage_are_refused() -> None:
    secret = new_enrolment("alice").secret
    assert matching_step(secret, code_at(secret, NOW - timedelta(seconds=90)), NOW, None) is None
    assert matching_step(new_enrolment("bob").secret, code_at(secret, NOW), NOW, None) is None
    for garbage in ["", "12345", "1234567", "abcdef", "１２３４５６"]:
        assert matching_step(secret, garbage, NOW, None) is None
