"""The DICOM objects polypdet produces for one analysed instance: the SR, and the SC when asked."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom import Dataset

from polypdet.clinical.sc import build_sc
from polypdet.clinical.sr import build_sr
from polypdet.detections import Detections
from polypdet.io.dicom import DicomImage


def dicom_outputs(
    source: DicomImage, frames: Sequence[Detections], model_version: str, *, with_sc: bool = False
) -> list[Dataset]:
    """``[SR]`` or ``[SR, SC]`` for ``source`` and its per-frame detections."""
    outputs: list[Dataset] = [build_sr(source, frames, model_version)]
    if with_sc:
        outputs.append(build_sc(source, frames, model_version))
    return outputs
