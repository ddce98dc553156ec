import numpy as np

from polypdet.engine.postprocess import box_iou, decode_yolo, non_max_suppression, xywh_to_xyxy


def _raw(rows: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """YOLO output (4 + 1 class, anchors) from (cx, cy, w, h, score) rows."""
    return np.asarray(rows, np.float32).T


def test_xywh_to_xyxy() -> None:
    assert xywh_to_xyxy(np.array([[50, 40, 20, 10]], np.float32)).tolist() == [[40, 35, 60, 45]]


def test_iou_hand_computed() -> None:
    # overlap 5x5 = 25, union 100 + 100 - 25 = 175
    iou = box_iou(np.array([0, 0, 10, 10], np.float32), np.array([[5, 5, 15, 15]], np.float32))
    assert abs(float(iou[0]) - 25 / 175) < 1e-6


def test_nms_keeps_best_of_overlapping_and_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.3], np.float32)
    assert non_max_suppression(boxes, scores, 0.5).tolist() == [1, 2]


def test_nms_empty() -> None:
    assert non_max_suppression(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def test_decode_filters_by_confidence_and_limits_count() -> None:
    raw = _raw([(50, 50, 20, 20, 0.9), (51, 50, 20, 20, 0.8), (200, 200, 10, 10, 0.6), (100, 100, 5, 5, 0.1)])
    boxes, scores, ids = decode_yolo(raw, conf=0.25, iou=0.7, max_det=50)
    assert scores.tolist() == np.float32([0.9, 0.6]).tolist()
    assert boxes.tolist() == [[40, 40, 60, 60], [195, 195, 205, 205]]
    assert ids.tolist() == [0, 0]
    boxes, _, _ = decode_yolo(raw, conf=0.25, iou=0.7, max_det=1)
    assert len(boxes) == 1


def test_decode_nothing_above_threshold() -> None:
    boxes, scores, ids = decode_yolo(_raw([(10, 10, 5, 5, 0.2)]), conf=0.25, iou=0.7, max_det=50)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and ids.shape == (0,)


def test_decode_is_class_aware() -> None:
    raw = np.array([[50, 50], [50, 50], [20, 20], [20, 20], [0.9, 0.0], [0.0, 0.8]], np.float32)
    _, _scores, ids = decode_yolo(raw, conf=0.25, iou=0.5, max_det=50)
    assert ids.tolist() == [0, 1]  # same box, different classes: both kept
