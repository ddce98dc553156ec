"""De-identification: DICOM by PS3.15 Annex E (Basic Profile), ordinary images by metadata stripping.

>>> from polypdet.security.deid import DicomDeidentifier, Pseudonymizer
>>> deidentifier = DicomDeidentifier(Pseudonymizer(b"k" * 32), shift_dates=True)
"""

from polypdet.security.deid.dicom import DeidReport, DicomDeidentifier
from polypdet.security.deid.files import FileOutcome, deidentify_file, deidentify_path
from polypdet.security.deid.images import MetadataStripError, strip_metadata
from polypdet.security.deid.pseudonym import Pseudonymizer

__all__ = [
    "DeidReport",
    "DicomDeidentifier",
    "FileOutcome",
    "MetadataStripError",
    "Pseudonymizer",
    "deidentify_file",
    "deidentify_path",
    "strip_metadata",
]
