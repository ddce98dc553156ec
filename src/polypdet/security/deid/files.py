"""De-identify files and folders: DICOM by the Basic Profile, JPEG/PNG/TIFF by stripping their metadata.

A folder in gives a folder out. DICOM files are renamed ``<study>/<series>/<instance>.dcm`` by their new UIDs,
because DICOM exports often name files and folders after the patient; ordinary images keep their relative path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from polypdet.security.deid.dicom import DicomDeidentifier
from polypdet.security.deid.images import MetadataStripError, image_format, strip_metadata

SKIPPED_NAMES = frozenset({"DICOMDIR"})  # the index of a DICOM medium names patients and is not rewritten


@dataclass
class FileOutcome:
    source: Path
    target: Path | None = None
    kind: str = ""
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def is_dicom(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def _dicom_target(dataset: pydicom.Dataset) -> Path:
    return Path(str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID), f"{dataset.SOPInstanceUID}.dcm")


def deidentify_file(
    source: Path, target: Path, deidentifier: DicomDeidentifier, dicom_root: Path | None = None
) -> FileOutcome:
    """De-identify one file to ``target``; with ``dicom_root``, a DICOM file goes under it by its new UIDs.

    Errors are reported in the outcome, never raised: the rest of a batch goes on.
    """
    outcome = FileOutcome(source)
    try:
        data = source.read_bytes()
    except OSError as error:
        outcome.error = error.strerror or type(error).__name__
        return outcome
    try:
        if is_dicom(data[:132]) or source.suffix.lower() == ".dcm":
            outcome.kind = "dicom"
            dataset = pydicom.dcmread(source)
            outcome.warnings = deidentifier.deidentify(dataset).warnings
            outcome.target = dicom_root / _dicom_target(dataset) if dicom_root else target
            outcome.target.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(outcome.target, enforce_file_format=True)
        elif image_format(data[:8]) is not None:
            cleaned, outcome.kind = strip_metadata(data)
            outcome.target = target
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(cleaned)
        else:
            outcome.error = "not DICOM, JPEG, PNG or TIFF"
    except (InvalidDicomError, MetadataStripError, AttributeError, ValueError, EOFError) as error:
        outcome.error = f"cannot de-identify: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    except OSError as error:
        outcome.error = f"cannot write: {error.strerror or type(error).__name__}"
    return outcome


def deidentify_path(source: Path, target: Path, deidentifier: DicomDeidentifier) -> Iterator[FileOutcome]:
    """De-identify a file, or every file under a folder (recursively), one outcome per file."""
    if source.is_dir():
        if target.resolve().is_relative_to(source.resolve()):
            yield FileOutcome(source, error="the output folder must not be inside the input folder")
            return
        for path in sorted(p for p in source.rglob("*") if p.is_file() and p.name not in SKIPPED_NAMES):
            yield deidentify_file(path, target / path.relative_to(source), deidentifier, dicom_root=target)
    elif source.is_file():
        if target.is_dir():
            yield deidentify_file(source, target / source.name, deidentifier, dicom_root=target)
        else:
            yield deidentify_file(source, target, deidentifier)
    else:
        yield FileOutcome(source, error="no such file or folder")
