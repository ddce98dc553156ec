"""Chunked sealed files: round trips at chunk edges, byte ranges, and every way a file can be swapped or cut."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from polypdet.security.crypto import DecryptionError, record_aad
from polypdet.security.keys import LocalKeyProvider
from polypdet.security.sealed_files import CHUNK_BYTES, OVERHEAD, FileSealer

AAD = record_aad("video-job", "job1/annotated.mp4")


@pytest.fixture
def sealer() -> FileSealer:
    return FileSealer(LocalKeyProvider.generate())


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
def test_round_trip_at_chunk_edges(sealer: FileSealer, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "out.bin"
    sealer.write_bytes(path, data, AAD)
    sealed = sealer.open(path, AAD)
    assert sealed.size == size and sealed.read_all() == data
    assert path.stat().st_size > size  # a header and a tag per chunk: nothing is stored in the clear
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary file left behind


def test_byte_ranges_open_only_what_they_need(sealer: FileSealer, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 1000)
    path = tmp_path / "out.bin"
    sealer.write_bytes(path, data, AAD)
    sealed = sealer.open(path, AAD)
    for start, end in ((0, 1), (10, CHUNK_BYTES + 5), (CHUNK_BYTES, CHUNK_BYTES * 2), (len(data) - 3, len(data))):
        assert b"".join(sealed.read_range(start, end)) == data[start:end]
    assert b"".join(sealed.read_range(5, 5)) == b""


def test_seal_in_place_replaces_the_plain_file(sealer: FileSealer, tmp_path: Path) -> None:
    path = tmp_path / "detections.csv"
    path.write_bytes(b"frame,time_ms,track_id\n0,0.0,1\n")
    sealer.seal_in_place(path, AAD)
    assert b"frame" not in path.read_bytes()
    assert sealer.open(path, AAD).read_all() == b"frame,time_ms,track_id\n0,0.0,1\n"


def test_another_record_another_key_or_a_changed_byte_does_not_open(sealer: FileSealer, tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    sealer.write_bytes(path, os.urandom(CHUNK_BYTES + 10), AAD)
    with pytest.raises(DecryptionError):
        sealer.open(path, record_aad("video-job", "job2/annotated.mp4"))
    with pytest.raises(DecryptionError):
        FileSealer(LocalKeyProvider.generate()).open(path, AAD)
    flipped = bytearray(path.read_bytes())
    flipped[-5] ^= 1
    path.write_bytes(bytes(flipped))
    sealed = sealer.open(path, AAD)  # the header is intact; the changed chunk is found when read
    assert b"".join(sealed.read_range(0, 10))
    with pytest.raises(DecryptionError):
        sealed.read_all()
    (tmp_path / "plain.bin").write_bytes(b"not sealed at all")
    with pytest.raises(DecryptionError):
        sealer.open(tmp_path / "plain.bin", AAD)


def test_cut_or_reordered_chunks_do_not_open(sealer: FileSealer, tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    sealer.write_bytes(path, os.urandom(3 * CHUNK_BYTES), AAD)
    whole = path.read_bytes()
    header = len(whole) - 3 * (CHUNK_BYTES + OVERHEAD)
    chunks = [whole[header + i * (CHUNK_BYTES + OVERHEAD) :][: CHUNK_BYTES + OVERHEAD] for i in range(3)]
    for variant in (
        whole[:header] + chunks[0] + chunks[1],  # the last chunk dropped, at a chunk boundary
        whole[:header] + chunks[1] + chunks[0] + chunks[2],  # two chunks swapped
        whole[:-1],  # cut inside the last chunk
    ):
        path.write_bytes(variant)
        with pytest.raises(DecryptionError):
            sealer.open(path, AAD).read_all()


def test_files_sealed_before_a_master_key_rotation_still_open(tmp_path: Path) -> None:
    old, new = AESGCM.generate_key(bit_length=256), AESGCM.generate_key(bit_length=256)
    path = tmp_path / "summary.json"
    FileSealer(LocalKeyProvider([old])).write_bytes(path, b"{}", AAD)
    assert FileSealer(LocalKeyProvider([new, old])).open(path, AAD).read_all() == b"{}"
