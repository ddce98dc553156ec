import numpy as np
import pytest

from polypdet.detections import Detections


def test_seed_json_shape() -> None:
    d = Detections(xyxy=[[10.123, 20, 50, 60]], confidence=[0.891234])
    assert d.to_json() == [{"bbox": [10.12, 20.0, 50.0, 60.0], "confidence": 0.8912, "class": "polyp"}]


def test_empty_is_normal() -> None:
    d = Detections.empty()
    assert len(d) == 0 and d.xyxy.shape == (0, 4) and d.to_json() == []
    assert len(d[d.confidence > 0.5]) == 0


def test_round_trip_with_tracks() -> None:
    d = Detections(xyxy=[[0, 0, 5, 5], [1, 1, 9, 9]], confidence=[0.5, 0.7], tracker_id=[3, 4])
    back = Detections.from_json(d.to_json())
    np.testing.assert_allclose(back.xyxy, d.xyxy)
    assert back.tracker_id is not None and back.tracker_id.tolist() == [3, 4]


def test_filtering_keeps_fields_aligned() -> None:
    d = Detections(xyxy=[[0, 0, 5, 5], [1, 1, 9, 9]], confidence=[0.2, 0.9], class_id=[0, 0])
    high = d[d.confidence > 0.5]
    assert len(high) == 1 and high.xyxy[0].tolist() == [1, 1, 9, 9]


def test_inverted_box_is_refused() -> None:
    with pytest.raises(ValueError):
        Detections(xyxy=[[10, 0, 5, 5]], confidence=[0.5])
