"""DICOM input: every transfer syntax and photometric interpretation decodes to the image it was made from,
and the model finds the polyp where it finds it in the plain image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from dicom_samples import (
    TRANSFER_SYNTAXES,
    base_dataset,
    h264_video,
    monochrome,
    monochrome12_windowed,
    multi_frame,
    read_clip,
    rgb_compressed,
    rgb_native,
    to_bytes,
    ybr_jpeg_baseline,
)
from polypdet.engine.detector import DetectParams
from polypdet.engine.postprocess import box_iou
from polypdet.io.dicom import (
    DicomDecodeError,
    decode_dicom_frames,
    is_dicom,
    read_dicom,
    read_dicom_bytes,
)
from polypdet.io.images import ImageDecodeError

JPIP_REFERENCED = UID("1.2.840.10008.1.2.4.94")


def _gray(image: np.ndarray) -> np.ndarray:
    return np.rint(image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Best IoU of box ``a`` with any of ``b``."""
    return float(box_iou(np.asarray(a, np.float32), np.asarray(b, np.float32).reshape(-1, 4)).max())


@pytest.mark.parametrize("kind", ["native", *TRANSFER_SYNTAXES])
def test_lossless_rgb_decodes_to_the_exact_image(polyp_image: np.ndarray, kind: str) -> None:
    ds = rgb_native(polyp_image) if kind == "native" else rgb_compressed(polyp_image, TRANSFER_SYNTAXES[kind])
    frames = decode_dicom_frames(to_bytes(ds))
    assert len(frames) == 1 and frames[0].dtype == np.uint8
    np.testing.assert_array_equal(frames[0], polyp_image)


def test_ybr_jpeg_baseline_is_converted_to_rgb_once(polyp_image: np.ndarray) -> None:
    frame = decode_dicom_frames(to_bytes(ybr_jpeg_baseline(polyp_image)))[0]
    error = np.abs(frame.astype(np.int16) - polyp_image.astype(np.int16))
    # a second YBR→RGB conversion (or none) shifts colours by tens of levels; JPEG q95 loses about one
    assert error.mean() < 2.0 and np.percentile(error, 99) < 16


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_monochrome_is_displayed_the_right_way_round(polyp_image: np.ndarray, photometric: str) -> None:
    gray = _gray(polyp_image)
    frame = decode_dicom_frames(to_bytes(monochrome(gray, photometric)))[0]
    assert frame.shape == (*gray.shape, 3)
    np.testing.assert_array_equal(frame[..., 0], gray)
    np.testing.assert_array_equal(frame[..., 2], gray)


def test_modality_and_voi_lut_come_before_8_bit_scaling(polyp_image: np.ndarray) -> None:
    gray = _gray(polyp_image)
    frame = decode_dicom_frames(to_bytes(monochrome12_windowed(gray)))[0]
    np.testing.assert_array_equal(frame[1:-1, :, 0], gray[1:-1])  # the window, not the data's range
    assert frame[0].max() == 0 and frame[-1].min() == 255  # outside the window: clipped


def test_every_frame_of_a_multi_frame_object(polyp_image: np.ndarray) -> None:
    flipped = np.ascontiguousarray(polyp_image[:, ::-1])
    frames = decode_dicom_frames(to_bytes(multi_frame([polyp_image, flipped, polyp_image])))
    assert len(frames) == 3
    np.testing.assert_array_equal(frames[1], flipped)
    np.testing.assert_array_equal(frames[2], polyp_image)


def test_h264_video_endoscopic_object_gives_every_frame(data: Path) -> None:
    clip = read_clip(data / "videos" / "Pediculado3.mpg", 12)
    image = read_dicom_bytes(to_bytes(h264_video(clip)))
    assert image.sop_class_uid == "1.2.840.10008.5.1.4.1.1.77.1.1.1"
    assert len(image.frames) == 12 and image.frames[0].shape == clip[0].shape
    for decoded, original in zip(image.frames, clip, strict=True):
        assert np.abs(decoded.astype(np.int16) - original.astype(np.int16)).mean() < 4.0


@pytest.mark.parametrize("kind", ["jpeg-baseline", "jpeg-ls", "jpeg2000", "rle"])
def test_polyp_is_found_where_it_is_in_the_plain_image(detector, polyp_image: np.ndarray, kind: str) -> None:  # type: ignore[no-untyped-def]
    ds = (
        ybr_jpeg_baseline(polyp_image)
        if kind == "jpeg-baseline"
        else rgb_compressed(polyp_image, TRANSFER_SYNTAXES[kind])
    )
    plain = detector.detect(polyp_image)
    from_dicom = detector.detect(decode_dicom_frames(to_bytes(ds))[0])
    assert len(plain) >= 1 and len(from_dicom) == len(plain)
    best = int(np.argmax(from_dicom.confidence))
    assert _iou(from_dicom.xyxy[best], plain.xyxy) > 0.95
    if kind != "jpeg-baseline":  # lossless: the very same boxes
        np.testing.assert_allclose(from_dicom.xyxy, plain.xyxy, atol=1e-3)


def test_polyp_is_found_in_a_monochrome1_image(detector, polyp_image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    gray = _gray(polyp_image)
    plain = detector.detect(np.repeat(gray[..., None], 3, axis=2))
    from_dicom = detector.detect(decode_dicom_frames(to_bytes(monochrome(gray, "MONOCHROME1")))[0])
    np.testing.assert_allclose(from_dicom.xyxy, plain.xyxy, atol=1e-3)


def test_polyp_found_in_the_video_where_it_is_in_the_original_clip(detector, data: Path) -> None:  # type: ignore[no-untyped-def]
    clip = read_clip(data / "videos" / "Pediculado3.mpg", 12)
    decoded = read_dicom_bytes(to_bytes(h264_video(clip))).frames
    matched = 0
    for original, frame in zip(clip, decoded, strict=True):
        # Lossy H.264 shifts confidences by up to ~0.15, so a pedunculated polyp's head and its head-with-stalk
        # box can swap sides of a threshold; each confident box must still be one the original frame gives.
        plain, from_dicom = detector.detect(original, DetectParams(conf=0.1)), detector.detect(frame)
        for box in from_dicom[from_dicom.confidence > 0.4].xyxy:
            matched += 1
            assert _iou(box, plain.xyxy) > 0.9
    assert matched >= 3  # the clip shows a pedunculated polyp in most of its first frames


def test_header_and_uids_are_kept_without_pixel_data(polyp_image: np.ndarray) -> None:
    ds = rgb_native(polyp_image)
    image = read_dicom_bytes(to_bytes(ds))
    assert image.sop_instance_uid == ds.SOPInstanceUID and image.study_instance_uid == ds.StudyInstanceUID
    assert "PixelData" not in image.dataset and image.dataset.PatientID == ds.PatientID
    assert (image.width, image.height) == (622, 529)


def test_read_dicom_from_a_file(polyp_image: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "image.dcm"
    path.write_bytes(to_bytes(rgb_native(polyp_image)))
    assert is_dicom(path.read_bytes()) and not is_dicom(b"\xff\xd8\xff" + bytes(200))
    assert read_dicom(path).frames[0].shape == polyp_image.shape
    with pytest.raises(DicomDecodeError, match="no such file"):
        read_dicom(tmp_path / "missing.dcm")


def _no_pixels() -> bytes:
    ds = base_dataset(sop_class="1.2.840.10008.5.1.4.1.1.88.33")  # Comprehensive SR
    return to_bytes(ds)


def _unsupported_syntax(image: np.ndarray) -> bytes:
    ds = rgb_native(image)
    ds.file_meta.TransferSyntaxUID = JPIP_REFERENCED  # pixels by reference to a JPIP server: not decodable here
    ds.PixelData = encapsulate([ds.PixelData])
    return to_bytes(ds)


def _corrupt_jpeg(image: np.ndarray) -> bytes:
    ds = ybr_jpeg_baseline(image)
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"])  # SOI, noise, EOI
    return to_bytes(ds)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda image: b"", "empty file"),
        (lambda image: b"\x89PNG\r\n" + bytes(300), "not a DICOM file"),
        (lambda image: to_bytes(rgb_native(image))[:1000], "corrupt"),
        (lambda image: _no_pixels(), "no pixel data"),
        (_unsupported_syntax, "unsupported transfer syntax"),
        (_corrupt_jpeg, "corrupt pixel data"),
    ],
    ids=["empty", "not-dicom", "truncated", "no-pixels", "unsupported-syntax", "corrupt-pixels"],
)
def test_bad_input_is_one_clear_error(polyp_image: np.ndarray, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DicomDecodeError, match=message) as caught:
        decode_dicom_frames(make(polyp_image))
    assert isinstance(caught.value, ImageDecodeError)  # the HTTP and CLI layers already map this one type
    assert "\n" not in str(caught.value)


def test_too_many_pixels_are_refused_before_decoding(polyp_image: np.ndarray) -> None:
    data = to_bytes(multi_frame([polyp_image] * 4))
    with pytest.raises(DicomDecodeError, match="too large"):
        read_dicom_bytes(data, max_total_pixels=3 * 622 * 529)
