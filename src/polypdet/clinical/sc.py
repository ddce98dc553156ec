"""Secondary Capture with the boxes burned in, for viewers that cannot display SR overlays.

One SC per result: the source frame with the most confident polyp (or a frame chosen by the caller), in the
source's study, derived from it (Source Image Sequence) and flagged ``BurnedInAnnotation = YES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

import highdicom as hd
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from polypdet.clinical.source import MANUFACTURER, derived_uid, plain_image_header
from polypdet.detections import Detections
from polypdet.io.annotate import draw_detections
from polypdet.io.dicom import DicomImage
from polypdet.io.images import RGBImage

SC_SERIES_NUMBER = 901
SC_SERIES_DESCRIPTION = "polypdet polyp detections, burned in (AI, unverified)"
DEIDENTIFICATION_KEYWORDS = ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence")


def plain_image_source(image: RGBImage, result_id: str) -> DicomImage:
    """A plain uploaded image as a source: the same stand-in header the SR refers to when it has no DICOM."""
    return DicomImage(dataset=plain_image_header(image.shape[1], image.shape[0], result_id), frames=[image])


def build_sc(
    source: DicomImage,
    frames: Sequence[Detections] | Detections,
    model_version: str,
    *,
    frame_index: int | None = None,
    result_id: str | None = None,
) -> hd.sc.SCImage:
    """The SC of one source frame (default: the one with the most confident polyp) with its boxes drawn."""
    per_frame = [frames] if isinstance(frames, Detections) else list(frames)
    if frame_index is None:
        frame_index = max(range(len(per_frame)), key=lambda i: float(per_frame[i].confidence.max(initial=0.0)))
    image = draw_detections(source.frames[frame_index], per_frame[frame_index])
    header = source.dataset
    seed = result_id or source.sop_instance_uid
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=header,
        pixel_array=image,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        # highdicom needs a coordinate system; an endoscope has no patient orientation, so it is left empty below
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        patient_orientation=("A", "F"),
        series_instance_uid=derived_uid(source.series_instance_uid, "sc-series"),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=derived_uid(seed, model_version, "sc", str(frame_index)),
        instance_number=int(header.get("InstanceNumber") or 1),
        manufacturer=MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=SC_SERIES_DESCRIPTION,
    )
    del sc.PatientOrientation  # type 2C in SC: absent for an image with no patient orientation
    sc.BurnedInAnnotation = "YES"
    sc.DerivationDescription = f"polypdet {model_version}: polyp boxes and confidences drawn on the source image"
    sc.SourceImageSequence = [_source_reference(header, frame_index)]
    for keyword in DEIDENTIFICATION_KEYWORDS:  # a capture of a de-identified image says it is one too
        if keyword in header:
            sc[keyword] = deepcopy(header[keyword])
    return sc


def _source_reference(header: Dataset, frame_index: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    if int(header.get("NumberOfFrames") or 1) > 1:
        item.ReferencedFrameNumber = frame_index + 1
    return item
