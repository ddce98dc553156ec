"""The shipped model through the engine, on real images and awkward encodings of them."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from polypdet.engine.detector import Detector, DetectParams
from polypdet.engine.postprocess import box_iou
from polypdet.io.images import ReducedImage, decode_image, read_for_input, read_image
from polypdet.train.backgrounds import SHAPE_KINDS, draw_flat_shape


def _encode(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_finds_the_polyp(detector: Detector, polyp_image: np.ndarray, data: Path) -> None:
    found = detector.detect(polyp_image)
    truth = np.array([[266, 136, 458, 329]], np.float32)  # bbox/cju1d31sp4d4k0878r3fr02ul.csv (held out)
    assert len(found) >= 1
    assert float(box_iou(truth[0], found.xyxy).max()) > 0.7
    assert detector.model_version.startswith("polyp-yolov8n@")


def test_boxes_are_inside_the_image(detector: Detector, polyp_image: np.ndarray) -> None:
    found = detector.detect(polyp_image, DetectParams(conf=0.01, max_det=300))
    h, w = polyp_image.shape[:2]
    assert len(found) > 0
    assert (found.xyxy[:, [0, 2]] <= w).all() and (found.xyxy[:, [1, 3]] <= h).all() and (found.xyxy >= 0).all()
    assert (found.xyxy[:, 2] > found.xyxy[:, 0]).all() and (found.xyxy[:, 3] > found.xyxy[:, 1]).all()


def test_max_det_and_conf_are_respected(detector: Detector, polyp_image: np.ndarray) -> None:
    many = detector.detect(polyp_image, DetectParams(conf=0.001, max_det=3))
    assert len(many) <= 3
    assert len(detector.detect(polyp_image, DetectParams(conf=0.999))) == 0


def test_batch_equals_single(detector: Detector, polyp_image: np.ndarray) -> None:
    images = [polyp_image, np.ascontiguousarray(polyp_image[:, ::-1]), polyp_image[:200, :300].copy()]
    batch = detector.detect_batch(images)
    for image, got in zip(images, batch, strict=True):
        single = detector.detect(image)
        np.testing.assert_allclose(got.xyxy, single.xyxy, atol=1e-3)


def test_openvino_and_onnxruntime_agree(detector: Detector, polyp_image: np.ndarray) -> None:
    pytest.importorskip("openvino")
    ov = Detector(backend="openvino", precision="f32").detect(polyp_image)
    ort = detector.detect(polyp_image)
    assert len(ov) == len(ort)
    np.testing.assert_allclose(ov.xyxy, ort.xyxy, atol=0.5)
    np.testing.assert_allclose(ov.confidence, ort.confidence, atol=0.01)


def test_openvino_takes_the_pixels_and_scales_them_in_its_graph(detector: Detector, polyp_image: np.ndarray) -> None:
    pytest.importorskip("openvino")
    ov = Detector(backend="openvino", precision="f32")
    pixels, _ = ov.preprocess(polyp_image)
    tensor, _ = detector.preprocess(polyp_image)
    assert pixels.dtype == np.uint8 and tensor.shape == (1, 3, *pixels.shape[1:3]) and pixels.shape[3] == 3
    np.testing.assert_allclose(ov.backend.infer(pixels), detector.backend.infer(tensor), atol=0.01)


def test_more_shapes_than_compilations_kept(
    detector: Detector, polyp_image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One image at a time, in shapes the per-shape compilations do not cover: the same boxes, no recompiling."""
    pytest.importorskip("openvino")
    from polypdet.engine.backends import OpenVinoBackend

    compiled: list[bool] = []
    original = OpenVinoBackend._compile

    def counting(self: OpenVinoBackend, model: object, dynamic: bool = False) -> object:
        compiled.append(dynamic)
        return original(self, model, dynamic)

    monkeypatch.setattr(OpenVinoBackend, "_compile", counting)
    ov = Detector(backend="openvino", precision="f32", hint="latency")
    crops = [polyp_image[: 529 - 60 * i] for i in range(5)]  # 622 wide: 320x288, 256, 224, 192, 160 after letterbox
    assert len({ov.preprocess(crop)[0].shape for crop in crops}) == 5
    for _ in range(2):  # the second round meets only shapes already compiled
        for crop in crops:
            got, want = ov.detect(crop), detector.detect(crop)
            assert len(got) == len(want)
            np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.5)
    assert compiled == [False] * OpenVinoBackend.MAX_SHAPES + [True]  # one per shape, then one for all others


def test_int8_weights_find_the_same_polyp(detector: Detector, polyp_image: np.ndarray) -> None:
    """The shipped model's int8 IR on OpenVINO: the fp32 model's box, give or take."""
    pytest.importorskip("openvino")
    int8 = Detector(backend="openvino", precision="int8")
    assert int8.backend.precision == "int8"
    got, want = int8.detect(polyp_image), detector.detect(polyp_image)
    assert len(got) == len(want) == 1
    assert float(box_iou(want.xyxy[0], got.xyxy)[0]) > 0.95
    assert abs(float(got.confidence[0]) - float(want.confidence[0])) < 0.05


def test_int8_runs_its_float_parts_in_f32_on_every_cpu(polyp_image: np.ndarray) -> None:
    """Left to OpenVINO, the int8 IR's float parts ran in bf16 on CPUs with bf16: other boxes than the card's."""
    ov = pytest.importorskip("openvino")
    int8 = Detector(backend="openvino", precision="int8")
    tensor, _ = int8.preprocess(polyp_image)
    int8.backend.infer(tensor)
    compiled = int8.backend._for_shape(tensor.shape).single.get_compiled_model()  # type: ignore[attr-defined]
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_auto_runs_int8_only_where_the_card_serves_it() -> None:
    pytest.importorskip("openvino")
    from polypdet.engine.models import resolve_model

    shipped = resolve_model()
    for served, expected in ((True, "int8"), (False, "auto")):
        model = replace(shipped, int8_default=served)
        assert Detector(model, backend="openvino").backend.precision == expected
        assert Detector(model, backend="onnxruntime").backend.precision == "f32"


def test_int8_where_it_cannot_run_is_a_clear_error() -> None:
    from polypdet.engine.backends import BackendError
    from polypdet.engine.models import resolve_model

    with pytest.raises(BackendError, match="onnxruntime runs the fp32 model only"):
        Detector(backend="onnxruntime", precision="int8")
    pytest.importorskip("openvino")
    without = replace(resolve_model(), int8_path=None, int8_default=True)
    with pytest.raises(BackendError, match="has no int8 weights"):
        Detector(without, backend="openvino", precision="int8")
    assert Detector(without, backend="openvino").backend.precision == "auto"


@pytest.mark.parametrize("size", [(240, 320), (180, 320)], ids=["4:3", "16:9"])
def test_blank_frames_give_no_polyp(detector: Detector, size: tuple[int, int]) -> None:
    """A blank frame of any grey (scope out, a test pattern) raises no alarm; 114 is also the letterbox's pad, where
    a candidate model once boxed a polyp (README, 1.8.0). A uniform frame letterboxes alike at any size of the same
    shape, so small frames stand for HD ones."""
    greys = range(0, 256, 2)
    found = detector.detect_batch([np.full((*size, 3), grey, np.uint8) for grey in greys])
    assert [grey for grey, detections in zip(greys, found, strict=True) if len(detections)] == []


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK"])
def test_other_encodings_still_find_it(detector: Detector, polyp_image: np.ndarray, mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = decode_image(_encode(polyp_image, mode, fmt))
    found = detector.detect(image)
    assert image.shape == polyp_image.shape
    reference = detector.detect(polyp_image)
    assert len(found) >= 1 and float(box_iou(reference.xyxy[0], found.xyxy).max()) > 0.8


def test_16_bit_input(detector: Detector, polyp_image: np.ndarray) -> None:
    gray16 = (np.asarray(Image.fromarray(polyp_image).convert("L"), np.uint16) * 257).astype(np.uint16)
    image = decode_image(_encode(gray16))
    eight = decode_image(_encode(np.asarray(Image.fromarray(polyp_image).convert("L"))))
    np.testing.assert_array_equal(image, eight)
    assert len(detector.detect(image)) >= 1


def test_exif_rotated_photo_gives_rotated_boxes(detector: Detector, polyp_image: np.ndarray) -> None:
    stored = np.ascontiguousarray(np.rot90(polyp_image, k=1))  # what a camera stores before EXIF says "rotate"
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "JPEG", exif=exif, quality=95)
    upright = decode_image(buffer.getvalue())
    assert upright.shape == polyp_image.shape
    got, want = detector.detect(upright), detector.detect(polyp_image)
    assert float(box_iou(want.xyxy[0], got.xyxy).max()) > 0.85


def test_a_reduced_decode_gives_the_boxes_of_the_full_image(detector: Detector, data: Path) -> None:
    """A 1348x1070 Kvasir image decoded at 1/4: boxes in full-size pixels, as from the full decode."""
    path = data / "kvasir-seg" / "images" / "cju2p91qir00k08350ddfif0w.jpg"
    reduced = read_for_input(path, detector.input_size)
    assert isinstance(reduced, ReducedImage) and reduced.scale >= 2
    got, want = detector.detect(reduced), detector.detect(read_image(path))
    assert len(want) >= 1 and len(got) == len(want)
    assert float(box_iou(np.array([348, 385, 772, 648], np.float32), want.xyxy).max()) > 0.9  # its labelled polyp
    for box, confidence in zip(want.xyxy, want.confidence, strict=True):
        best = int(box_iou(box, got.xyxy).argmax())
        assert float(box_iou(box, got.xyxy)[best]) > 0.95
        assert abs(float(got.confidence[best]) - float(confidence)) < 0.05


def test_black_sides_are_left_out(detector: Detector, polyp_image: np.ndarray, tmp_path: Path) -> None:
    """Between an HD frame's black sides the network sees the picture as it would alone: the same boxes, moved,
    also through a reduced JPEG decode; keeping the margins shrinks the picture in the network's input."""
    h, w = polyp_image.shape[:2]
    frame = np.zeros((h, w * 3 // 2, 3), np.uint8)
    frame[:, 160 : 160 + w] = polyp_image
    alone, found = detector.detect(polyp_image), detector.detect(frame)
    assert len(alone) >= 1
    np.testing.assert_allclose(found.xyxy, alone.xyxy + np.array([160, 0, 160, 0], np.float32), atol=1e-3)
    np.testing.assert_allclose(found.confidence, alone.confidence, atol=1e-6)
    large = cv2.resize(frame, None, fx=2.5, fy=2.5)
    path = tmp_path / "hd.jpg"
    cv2.imwrite(str(path), large[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    reduced = read_for_input(path, detector.input_size)
    assert isinstance(reduced, ReducedImage)
    got = detector.detect(reduced)
    assert float(box_iou(alone.xyxy[0] * 2.5 + np.array([400, 0, 400, 0]), got.xyxy).max()) > 0.95
    whole = Detector(detector.model, backend="onnxruntime", crop_margins=False)
    assert whole.preprocess(frame)[1].gain_x == pytest.approx(detector.preprocess(frame)[1].gain_x / 1.5, rel=0.01)


def test_flat_shapes_are_no_polyps(detector: Detector, polyp_image: np.ndarray) -> None:
    """A flat disc, ellipse or polygon (a marker, a symbol, an occluder) beside the polyp is not boxed, and the polyp
    is still found: 75 shapes (five kinds in five colours at three places), of which 1.10.0 boxed 16 and 1.16.0 2."""
    truth = np.array([266, 136, 458, 329], np.float32)
    colours = [(220, 30, 40), (245, 245, 245), (128, 128, 128), (0, 0, 0), (40, 80, 200)]
    boxed = 0
    for centre in ((130, 420), (530, 430), (120, 120)):
        radius = 60
        shape = np.array([centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius], np.float32)
        images = []
        for kind in SHAPE_KINDS:
            for colour in colours:
                image = polyp_image.copy()
                draw_flat_shape(image, kind, centre, radius, colour, np.random.default_rng(0))
                images.append(image)
        for found in detector.detect_batch(images):
            assert float(box_iou(truth, found.xyxy).max()) > 0.5
            boxed += int((box_iou(shape, found.xyxy) >= 0.3).any())
    assert boxed <= 5
