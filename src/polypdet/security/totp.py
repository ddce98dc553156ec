"""TOTP second factor (RFC 6238 via pyotp): enrolment, and verification that refuses replayed codes.

A code is accepted for the current 30-second step or one step either side (clock drift), and only for a step
later than the last one accepted for that user: a code seen on the wire cannot be used again.
"""

from __future__ import annotations

import hmac
import io
from dataclasses import dataclass
from datetime import datetime

import pyotp

ISSUER = "polypdet"
DRIFT_STEPS = 1


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str

    def qr_png(self) -> bytes:
        """The provisioning URI as a QR code PNG, for an authenticator app to scan."""
        import qrcode

        buffer = io.BytesIO()
        qrcode.make(self.provisioning_uri).save(buffer)
        return buffer.getvalue()


def new_enrolment(username: str) -> Enrolment:
    secret = pyotp.random_base32(length=32)
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step that ``code`` belongs to, if it is valid now and newer than ``last_step``; else ``None``."""
    code = code.strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate: the time taken does not tell which step matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator shows at ``moment`` (for enrolment checks and tests)."""
    return pyotp.TOTP(secret).at(moment)
