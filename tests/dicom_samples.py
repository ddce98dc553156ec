"""Build real DICOM test objects from real images and clips: every transfer syntax and photometric interpretation."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    MPEG4HP41,
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    VideoEndoscopicImageStorage,
    VLEndoscopicImageStorage,
    generate_uid,
)

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "PDT-0001", "PatientBirthDate": "19600101", "PatientSex": "F"}


def base_dataset(sop_class: str = VLEndoscopicImageStorage, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """Patient, study, series and instance attributes of an endoscopy image; no pixels yet."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.update(PATIENT)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20260115", "093000", "ACC42", "S1"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.Modality = "ES"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "Test Endoscope Co"
    return ds


def _set_pixels(ds: Dataset, pixels: bytes, rows: int, cols: int, samples: int, photometric: str, bits: int) -> None:
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, samples, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.PixelData = pixels


def rgb_native(image: np.ndarray) -> Dataset:
    ds = base_dataset()
    _set_pixels(ds, image.tobytes(), *image.shape[:2], 3, "RGB", 8)
    return ds


def rgb_compressed(image: np.ndarray, transfer_syntax: str) -> Dataset:
    """RGB compressed by pydicom's own encoders (RLE, JPEG-LS via pyjpegls, JPEG 2000 via openjpeg)."""
    ds = rgb_native(image)
    ds.compress(transfer_syntax)
    return ds


def ybr_jpeg_baseline(image: np.ndarray, quality: int = 95) -> Dataset:
    """JPEG baseline with 4:2:2 chroma sub-sampling, as endoscopy video processors store it (YBR_FULL_422)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=1)
    ds = base_dataset(transfer_syntax=JPEGBaseline8Bit)
    _set_pixels(ds, encapsulate([buffer.getvalue()]), *image.shape[:2], 3, "YBR_FULL_422", 8)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    return ds


def monochrome(gray: np.ndarray, photometric: str = "MONOCHROME2") -> Dataset:
    """8-bit grayscale; for MONOCHROME1 the stored values are inverted so the displayed image is ``gray``."""
    stored = 255 - gray if photometric == "MONOCHROME1" else gray
    ds = base_dataset()
    _set_pixels(ds, stored.astype(np.uint8).tobytes(), *gray.shape, 1, photometric, 8)
    return ds


def monochrome12_windowed(gray: np.ndarray) -> Dataset:
    """12-bit data with a rescale and a window such that modality + VOI LUT give back ``gray`` exactly.

    The first and last rows hold the extremes of the 12-bit range, outside the window: only a real VOI LUT
    maps the rest back to ``gray`` (a min/max stretch would not).
    """
    # stored = 4 * gray + 500, rescale: value = stored * 0.5 - 100 → 2 * gray + 150; window 150..660
    stored = gray.astype(np.uint16) * 4 + 500
    stored[0], stored[-1] = 0, 4095
    ds = base_dataset()
    _set_pixels(ds, stored.tobytes(), *gray.shape, 1, "MONOCHROME2", 16)
    ds.BitsStored, ds.HighBit = 12, 11
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 0.5, -100, "US"
    ds.WindowCenter, ds.WindowWidth = 150 + 255, 511  # LINEAR: maps 150 → 0 and 660 → 255
    return ds


def multi_frame(frames: list[np.ndarray]) -> Dataset:
    """A native RGB multi-frame object (all frames the same size)."""
    ds = base_dataset()
    _set_pixels(ds, b"".join(f.tobytes() for f in frames), *frames[0].shape[:2], 3, "RGB", 8)
    ds.NumberOfFrames = len(frames)
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 40.0
    return ds


def read_clip(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a real clip, RGB."""
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def h264_bitstream(frames: list[np.ndarray], fps: int = 25) -> bytes:
    """An H.264 High profile Annex B elementary stream of ``frames``, encoded by PyAV (libx264)."""
    height, width = frames[0].shape[:2]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="h264") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"crf": "12", "preset": "veryfast", "profile": "high"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def h264_video(frames: list[np.ndarray], fragments: int = 3) -> Dataset:
    """A Video Endoscopic Image Storage object: the H.264 stream split over several fragments."""
    ds = base_dataset(VideoEndoscopicImageStorage, MPEG4HP41)
    pixels = encapsulate([h264_bitstream(frames)], fragments_per_frame=fragments, has_bot=False)
    _set_pixels(ds, pixels, *frames[0].shape[:2], 3, "YBR_PARTIAL_420", 8)
    ds["PixelData"].VR = "OB"
    ds.NumberOfFrames = len(frames)
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 40.0
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


TRANSFER_SYNTAXES = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "jpeg2000": JPEG2000Lossless}
