"""Keyed pseudonyms (HMAC-SHA256 with a secret from the key store, never a fixed salt).

The same input gives the same pseudonym under the same key, so studies stay linkable for whoever holds the key,
and nobody without it can confirm a guessed patient ID. Each use has its own domain label.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from polypdet.security.policy import MIN_SECRET_BYTES

UID_ROOT = "2.25."  # UUID-derived UIDs (PS3.5 B.2): no organisation root needed
MAX_SHIFT_DAYS = 3650
MIN_SHIFT_DAYS = 30


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"the pseudonym key needs at least {MIN_SECRET_BYTES} bytes")
        self._key = key

    def _mac(self, domain: str, value: str) -> bytes:
        return hmac.new(self._key, f"{domain}\0{value}".encode(), hashlib.sha256).digest()

    def patient_id(self, patient_id: str, issuer: str = "") -> str:
        """``ANON-`` and 20 base32 characters (100 bits): fits LO and SH, case-insensitive safe."""
        digest = self._mac("patient-id", f"{issuer}\0{patient_id.strip()}")
        return "ANON-" + base64.b32encode(digest).decode()[:20]

    def uid(self, uid: str) -> str:
        """A UID under ``2.25`` from 128 bits of the MAC: the same original UID always maps to the same one."""
        return UID_ROOT + str(int.from_bytes(self._mac("uid", uid.strip())[:16], "big"))

    def date_shift_days(self, patient_key: str) -> int:
        """Days (negative, into the past) by which every date of this patient moves: intervals are kept."""
        span = MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1
        return -(MIN_SHIFT_DAYS + int.from_bytes(self._mac("date-shift", patient_key)[:8], "big") % span)

    def token(self, domain: str, value: str, length: int = 16) -> str:
        """A short pseudonym of any other value (accession numbers, file names)."""
        return base64.b32encode(self._mac(domain, value)).decode()[:length]
