"""Access tokens as an attacker tries them: alg none, tampered, expired, wrong audience, issuer or key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from polypdet.security.roles import Role
from polypdet.security.tokens import InvalidTokenError, TokenSigner

SECRET = b"k" * 16 + b"9d8f7a6s5d4f3g2h1j"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET, issuer="polypdet", audience="polypdet-api", ttl_s=600)


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def refused(signer: TokenSigner, token: str, now: datetime = NOW) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as error:
        signer.verify(token, now=now)
    assert str(error.value) == "invalid or expired token"  # the caller learns nothing more
    return error.value


def test_valid_token(signer: TokenSigner) -> None:
    token, expires = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    claims = signer.verify(token, now=NOW + timedelta(seconds=599))
    assert (claims.user_id, claims.name, claims.role, claims.session_id) == ("u1", "alice", Role.CLINICIAN, "s1")
    assert expires == NOW + timedelta(seconds=600)


def test_expired(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    assert refused(signer, token, NOW + timedelta(seconds=606)).reason == "expired"


def test_not_yet_valid(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW + timedelta(hours=1))
    assert refused(signer, token).reason == "not yet valid"


def test_alg_none(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    forged = claims_of(token) | {"role": "admin"}
    refused(signer, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(forged)}.")


def test_tampered_payload_keeps_old_signature(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    header, _, signature = token.split(".")
    forged = claims_of(token) | {"role": "admin"}
    assert refused(signer, f"{header}.{b64(forged)}.{signature}").reason == "InvalidSignatureError"


def test_tampered_signature(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    last = "A" if token[-1] != "A" else "B"
    refused(signer, token[:-1] + last)


@pytest.mark.parametrize(
    ("field", "value"), [("aud", "other-service"), ("iss", "evil"), ("role", "superuser"), ("exp", "soon")]
)
def test_wrong_claims_signed_with_the_right_key(signer: TokenSigner, field: str, value: str) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    claims = claims_of(token) | {field: value}
    refused(signer, jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("missing", ["exp", "sid", "aud", "sub"])
def test_missing_claims(signer: TokenSigner, missing: str) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    claims = {k: v for k, v in claims_of(token).items() if k != missing}
    refused(signer, jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_key_and_other_algorithm(signer: TokenSigner) -> None:
    token, _ = signer.issue("u1", "alice", Role.CLINICIAN, "s1", now=NOW)
    claims = claims_of(token)
    refused(signer, jwt.encode(claims, b"another-secret-of-enough-length-000", algorithm="HS256"))
    refused(signer, jwt.encode(claims, SECRET, algorithm="HS512"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage(signer: TokenSigner, garbage: str) -> None:
    refused(signer, garbage)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short", "i", "a", 60)
