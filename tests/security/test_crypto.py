"""Envelope encryption: AES-256-GCM, a data key per object, the record id bound as associated data."""

from __future__ import annotations

import pytest

from polypdet.security.crypto import DecryptionError, Envelope, SealedBlob, record_aad
from polypdet.security.keys import LocalKeyProvider

PHI = b'{"PatientName": "Doe^Jane", "PatientID": "PDT-0001"}'


def test_seal_open_round_trip_and_no_plaintext(envelope: Envelope) -> None:
    blob = envelope.seal(PHI, record_aad("results", "r1"))
    assert b"Doe" not in blob and b"PDT-0001" not in blob
    assert envelope.open(blob, record_aad("results", "r1")) == PHI


def test_every_object_gets_its_own_data_key_and_nonce(envelope: Envelope) -> None:
    one, two = (SealedBlob.parse(envelope.seal(PHI, record_aad("results", "r1"))) for _ in range(2))
    assert one.wrapped_key != two.wrapped_key
    assert one.payload != two.payload


def test_blob_moved_to_another_record_does_not_open(envelope: Envelope) -> None:
    blob = envelope.seal(PHI, record_aad("results", "r1"))
    with pytest.raises(DecryptionError):
        envelope.open(blob, record_aad("results", "r2"))


@pytest.mark.parametrize("where", ["payload", "wrapped key", "tag"])
def test_tampering_is_detected(envelope: Envelope, where: str) -> None:
    blob = bytearray(envelope.seal(PHI, record_aad("results", "r1")))
    sealed = SealedBlob.parse(bytes(blob))
    header = len(blob) - len(sealed.payload) - len(sealed.wrapped_key)
    index = {"payload": len(blob) - 30, "wrapped key": header + 20, "tag": len(blob) - 1}[where]
    blob[index] ^= 0x01
    with pytest.raises(DecryptionError):
        envelope.open(bytes(blob), record_aad("results", "r1"))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x03abc", b"\x01\x05abcde\x00\x10" + b"x" * 10])
def test_malformed_blobs_are_refused(envelope: Envelope, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        envelope.open(blob, record_aad("results", "r1"))


def test_unknown_master_key_is_refused(envelope: Envelope) -> None:
    blob = envelope.seal(PHI, record_aad("results", "r1"))
    with pytest.raises(DecryptionError, match="not available"):
        Envelope(LocalKeyProvider.generate()).open(blob, record_aad("results", "r1"))


def test_rewrap_moves_the_data_key_only() -> None:
    old, new = LocalKeyProvider.generate(), LocalKeyProvider.generate()
    aad = record_aad("results", "r1")
    blob = Envelope(old).seal(PHI, aad)
    both = LocalKeyProvider([new._keys[new.current_key_id], old._keys[old.current_key_id]])
    moved = Envelope(both).rewrap(blob, aad)
    assert Envelope.key_id_of(moved) == new.current_key_id != old.current_key_id
    assert SealedBlob.parse(moved).payload == SealedBlob.parse(blob).payload
    assert Envelope(new).open(moved, aad) == PHI  # the old key is no longer needed
    assert Envelope(both).rewrap(moved, aad) == moved
