"""Lines, grids and form boxes taken out of the ink mask, and the digits on them kept whole.

Pages made in code: handwritten (MNIST) digits written into printed or hand-drawn boxes, combs
of boxes, on rules and on faint or dashed grids, then `ink_mask -> clean_mask ->
find_candidates`, with no model. A digit "comes out whole" when one candidate box covers its
ink box closely (IoU); frames, walls and grid lines must leave no candidate of their own.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitscan.preprocess import ink_mask
from digitscan.result import Box
from digitscan.segment import clean_mask, find_candidates, find_fields
from tests.images import blank_page, write_number

INK = 40  # the printed lines' gray on the page


def candidates(page: np.ndarray) -> list[Box]:
    return find_candidates(clean_mask(ink_mask(page)))


def assert_whole(found: list[Box], written: list[tuple[int, int, int, int]], iou: float = 0.8) -> None:
    """One candidate for each written digit, covering it closely, and nothing else."""
    assert len(found) == len(written), f"found {found} for the digits at {written}"
    for box in written:
        best = max(Box(*box).iou(b) for b in found)
        assert best >= iou, f"the digit at {box} came out as {found} (best IoU {best:.2f})"


def place(page: np.ndarray, ch: str, height: int, *, left: int | None = None, right: int | None = None,
          top: int | None = None, bottom: int | None = None) -> tuple[int, int, int, int]:
    """Write one digit so that its ink box's edges fall where given (inclusive); returns the box."""
    x0, y0, w, h = write_number(blank_page(4 * height, 4 * height), ch, 0, 0, height)[0]
    x = left - x0 if left is not None else right - (w - 1) - x0
    y = top - y0 if top is not None else bottom - (h - 1) - y0
    return write_number(page, ch, x, y, height)[0]


def comb(page: np.ndarray, x: int, y: int, cells: int, cell_w: int, cell_h: int, thick: int = 2) -> None:
    """A printed comb field: a box split into `cells` boxes by walls."""
    cv2.rectangle(page, (x, y), (x + cells * cell_w, y + cell_h), INK, thick)
    for i in range(1, cells):
        cv2.line(page, (x + i * cell_w, y), (x + i * cell_w, y + cell_h), INK, thick)


def test_a_digit_touching_its_box_frame_comes_out_whole():
    page = blank_page(500, 300)
    cv2.rectangle(page, (200, 80), (262, 166), INK, 3)
    # Written large: its foot on the bottom line, its side against the right one.
    written = [place(page, "4", 78, right=262, bottom=166)]
    assert_whole(candidates(page), written)


@pytest.mark.parametrize("thick", [1, 3])
def test_comb_walls_go_and_digits_touching_them_stay(thick):
    page = blank_page(700, 300)
    comb(page, 100, 100, 6, 60, 80, thick)
    written = [
        place(page, "3", 62, left=100 + thick, top=112),  # against the left side of the comb
        place(page, "7", 66, right=280, top=108),  # against the wall on its right
        place(page, "5", 64, left=282, bottom=180),  # its foot on the bottom line
        place(page, "9", 50, left=414, top=115),  # in the middle of its box
    ]
    assert_whole(candidates(page), written)


def test_two_digits_touching_one_wall_from_either_side_stay_apart():
    page = blank_page(500, 300)
    comb(page, 100, 100, 3, 60, 80, 2)
    written = [place(page, "2", 62, right=160, top=110), place(page, "0", 62, left=160, top=110),
               place(page, "4", 50, left=236, top=115)]
    assert_whole(candidates(page), written)


def test_empty_combs_give_no_candidates():
    page = blank_page(700, 400)
    comb(page, 60, 60, 7, 55, 75, 2)
    comb(page, 60, 220, 4, 60, 80, 3)
    assert candidates(page) == []


def test_a_one_written_on_a_wall_is_kept():
    page = blank_page(500, 300)
    comb(page, 100, 100, 3, 60, 80, 1)
    page[104:178, 157:165] = 30  # a bold 1, from the top line to the bottom one, over the wall
    found = candidates(page)
    assert len(found) == 1 and found[0].iou(Box(157, 104, 8, 74)) > 0.6, found


def test_form_fields_are_whole_combs_and_single_wide_cells():
    page = blank_page(1000, 400)
    comb(page, 60, 60, 5, 60, 80)  # x 60..360: one field
    comb(page, 372, 60, 3, 60, 80)  # right after it, x 372..552: another
    comb(page, 600, 60, 2, 170, 80)  # a row of two wide cells: one field each
    comb(page, 60, 250, 6, 60, 80)  # digits written across its walls and bottom line
    place(page, "7", 70, left=150, bottom=345)
    place(page, "4", 70, left=230, top=265)
    cv2.rectangle(page, (20, 200), (980, 203), INK, -1)  # a rule: no field
    seg = clean_mask(ink_mask(page))
    fields = sorted((f.box for f in find_fields(seg.lines, seg.height)), key=lambda f: (f.y, f.x))
    expected = [Box(60, 60, 300, 80), Box(372, 60, 180, 80), Box(600, 60, 170, 80), Box(770, 60, 170, 80),
                Box(60, 250, 360, 80)]
    assert len(fields) == len(expected), fields
    for f, e in zip(fields, expected):
        assert f.iou(e) > 0.9, (f, e)


def test_a_digit_sitting_on_a_rule_keeps_its_foot():
    page = blank_page(600, 300)
    cv2.line(page, (0, 170), (600, 170), INK, 2)
    written = [place(page, "2", 70, left=200, bottom=170)]  # its base on the rule
    rule_top = int(np.flatnonzero(page[:, 10] < 128).min())
    found = candidates(page)
    assert_whole(found, written, iou=0.85)
    # Its foot is kept down to the rule but for the row right against it, which goes with the
    # rule (a rule a little askew steps into that row).
    assert found[0].y2 >= rule_top - 1, "the foot of the 2 was taken with the rule"


def dashed_grid(page: np.ndarray, cell: int, dash: int, gap: int, gray: int = 150) -> None:
    """Squared paper whose faint lines the ink mask keeps in pieces."""
    h, w = page.shape
    for x in range(cell // 2, w, cell):
        for y in range(0, h, dash + gap):
            page[y : y + dash, x] = gray
    for y in range(cell // 2, h, cell):
        for x in range(0, w, dash + gap):
            page[y, x : x + dash] = gray


@pytest.mark.parametrize("dash, gap", [(6, 6), (10, 25), (3, 5)])
def test_a_dashed_grid_gives_no_candidates(dash, gap):
    page = blank_page(800, 600)
    dashed_grid(page, 36, dash, gap)
    assert ink_mask(page).any(), "the grid must be ink for this test"
    assert candidates(page) == []


def test_digits_on_a_dashed_grid_come_out_whole():
    page = blank_page(800, 500)
    dashed_grid(page, 30, 8, 10)
    written = write_number(page, "4096", 150, 140, 50) + write_number(page, "1357", 420, 300, 50)
    assert_whole(candidates(page), written, iou=0.75)


def test_a_hand_drawn_box_askew_with_uneven_lines():
    page = blank_page(500, 300)
    # Drawn by hand: a little askew, the pen pressing harder on some sides.
    corners = np.array([[150, 80], [330, 83], [329, 170], [148, 167]])
    for (a, b), thick in zip(zip(corners, np.roll(corners, -1, axis=0)), (2, 4, 3, 2)):
        cv2.line(page, tuple(int(v) for v in a), tuple(int(v) for v in b), INK, thick)
    written = [place(page, "5", 60, left=170, bottom=166), place(page, "8", 60, right=327, top=100)]
    assert_whole(candidates(page), written)


def test_a_grid_seen_at_an_angle():
    # The far side of the page is smaller: its lines fan out, up to 3 degrees from level.
    page = blank_page(1200, 900)
    for i, y in enumerate(range(50, 900, 150)):
        slope = np.tan(np.deg2rad(-3 + 6 * i / 5))
        cv2.line(page, (0, y), (1200, int(y + 1200 * slope)), 120, 1, cv2.LINE_AA)
    for i, x in enumerate(range(50, 1200, 150)):
        slope = np.tan(np.deg2rad(-3 + 6 * i / 7))
        cv2.line(page, (x, 0), (int(x + 900 * slope), 900), 120, 1, cv2.LINE_AA)
    written = write_number(page, "2468", 200, 140, 80) + write_number(page, "1357", 620, 520, 80)
    assert_whole(candidates(page), written, iou=0.75)


def test_a_page_that_bows_is_turned_between_its_two_sides():
    # Rules that fall 5 degrees on the left half of the page and rise 5 on the right (a sheet
    # lying curled, seen from above), more of them on the left: turned by either side's tilt,
    # the other side's lines would lean by 10 degrees.
    from digitscan.segment import estimate_skew

    page = blank_page(1200, 900)
    for k, y in enumerate(range(100, 850, 75)):
        drop = int(500 * np.tan(np.deg2rad(5)))
        cv2.line(page, (40, y), (540, y + drop), 120, 2)
        if k % 3:
            cv2.line(page, (660, y + drop), (1160, y), 120, 2)
    assert abs(estimate_skew(ink_mask(page))) < 1.0
    # Level everywhere but for lines bent near one edge (the spine of a notebook), a third of
    # the lines' length: the page is level, and is not turned toward them.
    page = blank_page(1200, 900)
    for k, y in enumerate(range(100, 850, 75)):
        cv2.line(page, (40, y), (700, y), 120, 2)
        if k % 3 < 2:
            cv2.line(page, (760, y), (1160, y - int(400 * np.tan(np.deg2rad(4)))), 120, 2)
    assert abs(estimate_skew(ink_mask(page))) < 0.5


@pytest.mark.parametrize("tilt, lean", [(4, 6), (-12, 6), (12, -6), (12, 0)])
def test_a_field_tilted_its_own_way_is_levelled_lines_and_walls(tilt, lean):
    # A comb whose lines fall `tilt` degrees and whose walls lean `lean` degrees (perspective,
    # or a page turned by another part's tilt): levelled, its lines run along rows and its
    # walls down columns, and shearing back puts every pixel where it was.
    from digitscan.segment import level_blob, unlevel

    slope, leaning = np.tan(np.deg2rad(tilt)), np.tan(np.deg2rad(lean))
    mask = np.zeros((200, 400), np.uint8)

    def at(x: float, y: float) -> tuple[int, int]:
        return int(round(40 + x + leaning * y)), int(round(90 + y + slope * x))

    for y in (0, 40):  # a field far longer than tall: levelled, its copy is mostly empty rows
        cv2.line(mask, at(0, y), at(300, y), 255, 2)
    for x in range(0, 301, 60):
        cv2.line(mask, at(x, 0), at(x, 40), 255, 2)
    x, y, w, h = cv2.boundingRect(mask)
    roi = mask[y : y + h, x : x + w]
    image, matrix = level_blob(roi)
    ink = image > 0
    assert np.count_nonzero(ink.sum(axis=1) > 250) >= 2  # the two lines, each along a row or two
    assert np.count_nonzero(ink.sum(axis=0) >= 36) >= 6  # the six walls, each down a column
    assert np.array_equal(unlevel(image, matrix, roi) & roi, roi)


def test_a_mask_all_ink_is_no_line_and_no_crash():
    # A blob that fills its box has no edge inside it: its "stroke" was measured as four times
    # its area, and mending across a line with a kernel that wide crashed OpenCV.
    from digitscan.segment import _components, _remove_lines

    mask = np.full((300, 40), 255, np.uint8)
    cleaned, _ = _remove_lines(mask, _components(mask)[1], 20.0)
    assert cleaned.shape == mask.shape


def test_digits_written_on_straight_rules_do_not_tilt_the_page():
    # Large digits sitting on each rule, more on the left: a line fitted to a rule's blob with
    # its digits leans toward them; the rule alone, from the columns without digits, does not.
    from digitscan.segment import estimate_skew

    page = blank_page(1000, 720)
    for row, text in enumerate(["8699", "94", "11835", "45"]):
        y = 170 + row * 170
        cv2.line(page, (0, y), (999, y), 150, 2)
        write_number(page, text, 60 + 40 * row, y - 88, height=88)
    assert abs(estimate_skew(ink_mask(page))) < 0.5


@pytest.mark.parametrize("ruled", [True, False])
def test_an_upright_line_one_pixel_wide_is_no_candidate_on_a_page_of_lines(ruled):
    # What grid removal leaves of a faint upright line: one pixel wide, dead upright, as tall as
    # the writing; read, it was a sure 1. On a page with no printed lines it may be a fine
    # pen's 1, and stays.
    page = blank_page(500, 200)
    written = [tuple(b) for b in write_number(page, "47", 60, 60, height=56)]
    page[62:116, 300] = INK
    if ruled:
        page[150:152, 20:480] = INK
    found = candidates(page)
    if ruled:
        assert_whole(found, written)
    else:
        assert any(abs(b.x - 300) <= 2 and b.w == 1 for b in found), found
