"""Where archives live: a local folder or an S3 prefix (``s3://bucket/prefix/``; boto3 takes credentials and
``AWS_ENDPOINT_URL`` from the environment, as usual)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

SUFFIX = ".pdbk"


class StorageError(RuntimeError):
    """The archive cannot be written or read."""


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def _s3_parts(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    if not parsed.netloc:
        raise StorageError(f"not an S3 location: {location} (use s3://bucket/prefix/)")
    return parsed.netloc, parsed.path.lstrip("/")


def _s3_client() -> Any:
    try:
        import boto3
    except ImportError:
        raise StorageError("S3 needs boto3: pip install 'polypdet[s3]'") from None
    return boto3.client("s3")


def write_archive(destination: str, name: str, data: bytes) -> str:
    """Store ``data`` as ``name`` in the folder or S3 prefix ``destination``; returns where it went."""
    if is_s3(destination):
        bucket, prefix = _s3_parts(destination)
        key = f"{prefix.rstrip('/')}/{name}" if prefix else name
        try:
            _s3_client().upload_fileobj(io.BytesIO(data), bucket, key)
        except Exception as error:  # botocore raises many types; the message is what the operator needs
            raise StorageError(f"cannot upload to s3://{bucket}/{key}: {error}") from None
        return f"s3://{bucket}/{key}"
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o600)
    partial.replace(path)  # never leave a half-written archive under its real name
    return str(path)


def newest_archive(location: str) -> str:
    """``location`` itself when it names an archive, else the newest archive in that folder or S3 prefix."""
    if location.endswith(SUFFIX):
        return location
    if is_s3(location):
        bucket, prefix = _s3_parts(location)
        pages = _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(SUFFIX)]
        if not keys:
            raise StorageError(f"no backup archives under {location}")
        return f"s3://{bucket}/{max(keys)}"
    archives = sorted(Path(location).glob(f"*{SUFFIX}"))
    if not archives:
        raise StorageError(f"no backup archives in {location}")
    return str(archives[-1])


def read_archive(location: str) -> bytes:
    if is_s3(location):
        bucket, key = _s3_parts(location)
        buffer = io.BytesIO()
        try:
            _s3_client().download_fileobj(bucket, key, buffer)
        except Exception as error:
            raise StorageError(f"cannot download {location}: {error}") from None
        return buffer.getvalue()
    try:
        return Path(location).read_bytes()
    except OSError as error:
        raise StorageError(f"cannot read {location}: {error.strerror}") from None
