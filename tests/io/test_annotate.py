import numpy as np

from polypdet.detections import Detections
from polypdet.io.annotate import BOX_COLOUR, draw_detections, label_place


def test_label_goes_above_the_box() -> None:
    assert label_place((100, 50, 200, 150), (60, 20), 640, 480, []) == (100, 30, 160, 50)


def test_label_of_a_box_at_the_top_goes_inside_it() -> None:
    assert label_place((100, 5, 200, 150), (60, 20), 640, 480, []) == (100, 5, 160, 25)


def test_label_stays_inside_the_right_edge() -> None:
    assert label_place((620, 50, 639, 150), (60, 20), 640, 480, [])[2] == 640


def test_labels_of_boxes_with_the_same_corner_do_not_overlap() -> None:
    first = label_place((100, 50, 300, 300), (60, 20), 640, 480, [])
    second = label_place((100, 50, 200, 150), (60, 20), 640, 480, [first])
    assert second == (100, 50, 160, 70)


def test_when_every_place_is_taken_the_label_goes_above() -> None:
    taken = [(0, 0, 640, 480)]
    assert label_place((100, 50, 200, 150), (60, 20), 640, 480, taken) == (100, 30, 160, 50)


def test_two_nested_boxes_show_both_labels() -> None:
    image = np.full((200, 300, 3), 40, np.uint8)
    boxes = Detections(xyxy=[[50, 40, 250, 190], [50, 40, 150, 120]], confidence=[0.45, 0.41])
    drawn = draw_detections(image, boxes)
    green = np.all(drawn == BOX_COLOUR, axis=2)
    filled_rows = np.flatnonzero(green[:, 60:100].mean(axis=1) > 0.5)  # rows across a label tag (green around text)
    assert filled_rows.min() < 40 <= filled_rows.max()  # one tag above the boxes, one inside them
    assert image.max() == 40  # the input is not drawn on
