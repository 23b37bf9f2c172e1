"""Each pipeline stage on its own, on arrays made in code (no model needed)."""

from __future__ import annotations

import numpy as np

from digitscan.group import group_numbers
from digitscan.normalize import stroke_width, to_mnist
from digitscan.preprocess import ink_mask, is_dark_background
from digitscan.result import Box, Digit
from digitscan.segment import clean_mask, find_candidates
from digitscan.scanner import _better_split
from digitscan.touching import Split, split_touching
from tests.images import blank_page, digit_image, write_number


def test_to_mnist_fits_20_and_centres_by_mass():
    crop = np.zeros((200, 80), np.uint8)
    crop[10:190, 30:50] = 255
    img = to_mnist(crop)
    ys, xs = np.nonzero(img > 0.05)
    assert ys.max() - ys.min() + 1 <= 21 and xs.max() - xs.min() + 1 <= 21
    cy = (img.sum(1) * np.arange(28)).sum() / img.sum()
    cx = (img.sum(0) * np.arange(28)).sum() / img.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1
    assert not to_mnist(np.zeros((5, 5), np.uint8)).any()


def test_to_mnist_brings_hairlines_and_markers_to_mnist_width():
    mnist_like = []
    for width in (2, 12, 40):  # a fine pen, a pen, a marker on a 300-px digit
        crop = np.zeros((300, 300), np.uint8)
        crop[:, 150 - width // 2 : 150 + width // 2 + 1] = 255
        crop[140 : 140 + width, :] = 255
        img = to_mnist(crop)
        mnist_like.append(stroke_width((img > 0.5).astype(np.uint8) * 255))
    assert max(mnist_like) - min(mnist_like) < 1.5, mnist_like


def test_ink_mask_survives_a_shadow_and_finds_nothing_on_blank_paper():
    page = blank_page(600, 300, 230)
    write_number(page, "47", 100, 100, 70)
    shade = np.linspace(1.0, 0.35, 600, dtype=np.float32)[None, :]  # dark toward the right
    page = (page * shade).astype(np.uint8)
    write_number(page, "5", 480, 100, 70, ink=10)
    mask = ink_mask(page)
    assert mask[100:170, 100:250].any() and mask[100:170, 470:560].any()
    assert not mask[:80].any() and not mask[200:].any()
    assert not ink_mask(blank_page(600, 300, 200)).any()
    noisy = np.clip(blank_page(600, 300, 200) + np.random.default_rng(0).normal(0, 6, (300, 600)), 0, 255)
    assert np.count_nonzero(ink_mask(noisy.astype(np.uint8))) < 50


def test_ink_mask_lies_exactly_on_the_ink():
    # Every box on the page is measured on this mask: a pixel off is a box off, and a mark
    # taken a pixel too low. Ink of every width, pinholes closed, nothing moved.
    page = np.full((90, 160), 215, np.uint8)
    page[10:30, 20:24] = 35  # a 1's stroke
    page[50:53, 40:120] = 60  # a rule
    page[60:70, 130:140] = 30
    page[64, 134] = 200  # a pinhole
    ink = page < 100
    ink[64, 134] = True  # closed
    assert np.array_equal(ink_mask(page) > 0, ink)


def test_light_writing_on_a_dark_board_is_ink():
    page = blank_page(400, 200, 235)
    write_number(page, "3", 150, 60, 70)
    board = 255 - page  # white chalk on a dark board
    mask = ink_mask(board)
    assert mask[60:130, 150:220].any() and not mask[:40].any()


def test_rules_are_removed_and_digits_crossing_them_kept():
    page = blank_page(700, 300, 235)
    boxes = write_number(page, "72", 100, 100, 70)
    page[150:153, :] = 60  # a page rule through the digits
    page[:, 600:602] = 60  # a margin line
    mask = ink_mask(page)
    found = find_candidates(clean_mask(mask))
    assert len(found) == 2
    for truth, got in zip(sorted(boxes), sorted(found)):
        assert Box(*truth).iou(got) > 0.7


def test_specks_and_dashes_are_not_candidates():
    page = blank_page(600, 300, 235)
    write_number(page, "6", 100, 100, 70)
    page[200:203, 300:340] = 40  # a dash
    page[120:124, 400:404] = 40  # a speck
    mask = ink_mask(page)
    assert len(find_candidates(clean_mask(mask))) == 1


def test_broken_stroke_is_joined_into_one_candidate():
    page = blank_page(600, 300, 235)
    boxes = write_number(page, "2583", 100, 80, 90)
    x, y, w, h = boxes[1]
    page[y + 25 : y + 31, x - 2 : x + w + 2] = 235  # erase a band: the 5 comes apart
    found = find_candidates(clean_mask(ink_mask(page)))
    assert len(found) == 4
    assert max(b.iou(Box(*boxes[1])) for b in found) > 0.8


def test_group_reads_lines_top_to_bottom_and_splits_numbers_by_gaps():
    def d(label, x, y):
        return Digit(label, 0.9, Box(x, y, 20, 30))

    # A slightly tilted line "12 345" and a second line "6", given in random order.
    digits = [d(5, 160, 12), d(6, 10, 80), d(1, 10, 0), d(3, 110, 8), d(2, 35, 2), d(4, 135, 10)]
    ordered, numbers = group_numbers(digits)
    assert [n.text for n in numbers] == ["12", "345", "6"]
    assert [ordered[i].label for i in numbers[1].digits] == [3, 4, 5]


def test_group_keeps_a_form_field_one_number_and_ends_a_number_with_its_field():
    def d(label, x):
        return Digit(label, 0.9, Box(x, 10, 14, 30))

    # A comb of four 40-px cells (x 0..160): a 4 in the first cell, a 1 in the last, far apart;
    # then a second comb right after it (x 164..244) holding 7 and 2.
    digits = [d(4, 12), d(1, 135), d(7, 172), d(2, 212)]
    assert [n.text for n in group_numbers(digits)[1]] == ["4", "172"]  # by gaps alone
    assert [n.text for n in group_numbers(digits, fields=[0, 0, 1, 1])[1]] == ["41", "72"]
    # Digits outside any field are grouped by their gaps, and never with a field's digits.
    assert [n.text for n in group_numbers(digits, fields=[None, None, 1, 1])[1]] == ["4", "1", "72"]


def test_touching_split_classifies_every_cut_in_one_call_and_rejects_unsure_cuts():
    crop = np.zeros((28, 50), np.uint8)
    crop[:, :28] |= digit_image(0)
    crop[:, 18:46] |= digit_image(1)
    mask = np.zeros((60, 100), np.uint8)
    mask[10:38, 20:70] = np.where(crop > 80, 255, 0)
    calls = []

    def unsure(batch):
        calls.append(len(batch))
        probs = np.full((len(batch), 11), 0.01, np.float32)
        probs[:, 10] = 0.9  # every piece is "not a digit"
        return probs

    result = split_touching(mask, [Box(20, 10, 50, 28), Box(20, 10, 50, 28)], unsure)
    assert len(calls) == 1 and calls[0] >= 4  # all cuts of both blobs in one batch
    assert result == [None, None]


def _split(confidences: list[float], width: int) -> Split:
    probs = np.zeros((len(confidences), 11), np.float32)
    for i, c in enumerate(confidences):
        probs[i, 1], probs[i, 7], probs[i, 10] = c, (1 - c) / 2, (1 - c) / 2  # a 1, else a 7 or no digit
    boxes = [Box(i * width // len(confidences), 0, width // len(confidences), 60) for i in range(len(confidences))]
    return Split(boxes, probs, float(np.exp(np.log(confidences).mean())))


def test_a_split_must_read_better_than_the_blob_whole():
    digit_wide, very_wide = Box(0, 0, 58, 60), Box(0, 0, 110, 60)
    assert _better_split(digit_wide, 0.0, _split([0.9, 0.95], 58))  # the whole is no digit
    assert not _better_split(digit_wide, 0.9, _split([0.95, 0.97], 58))  # not clearly better
    assert not _better_split(digit_wide, 0.0, _split([0.45, 0.99], 58))  # a piece read unsurely
    assert _better_split(digit_wide, 0.0, _split([0.55, 0.99], 58))  # fair, and the whole is no digit
    assert not _better_split(digit_wide, 0.5, _split([0.55, 0.99], 58))  # fair, but the whole is a digit
    # A piece read unsurely is mostly a stroke of the digit cut off (an 8 written as a B: 1 and 8).
    assert not _better_split(digit_wide, 0.5, _split([0.71, 0.99], 58))
    # Wider than any digit: two digits, unless the blob reads surely as one (a 2 with a long
    # lead-in stroke), and then only a surer split wins.
    assert _better_split(very_wide, 0.8, _split([0.92, 0.95], 110))
    assert not _better_split(very_wide, 1.0, _split([0.95, 1.0], 110))
    # Two digits in less than one digit's width: mostly one digit cut in two, unless both
    # pieces read surely (and far better than the whole, if it reads as a digit at all).
    narrow = Box(0, 0, 48, 60)
    assert not _better_split(narrow, 0.0, _split([0.9, 0.95], 48))
    assert _better_split(narrow, 0.0, _split([0.96, 0.99], 48))
    assert not _better_split(narrow, 0.7, _split([0.85, 0.9], 48))
    assert _better_split(narrow, 0.6, _split([0.92, 0.95], 48))
    assert not _better_split(narrow, 0.4, _split([0.75, 0.87], 48))  # a blurred 8 as a 9 and a 3
    # Three digits in less than one digit's width: a marker's strokes, not 111.
    assert not _better_split(Box(0, 0, 52, 70), 0.0, _split([0.95, 0.99, 1.0], 52))
    assert _better_split(Box(0, 0, 90, 70), 0.0, _split([0.95, 0.99, 1.0], 90))


def test_separators_join_a_number_and_are_written_into_it():
    def d(label, x):
        return Digit(label, 0.9, Box(x, 100, 20, 40))

    digits = [d(1, 0), d(2, 64), d(5, 89), d(0, 114), d(0, 178), d(0, 203)]
    comma = Box(40, 132, 5, 12)  # low, reaching below the baseline
    point = Box(149, 134, 5, 5)  # low, round, on the baseline
    assert [n.text for n in group_numbers(digits, [comma, point])[1]] == ["1,250.00"]
    # Without the marks, the wide gaps split the amount into three numbers.
    assert [n.text for n in group_numbers(digits)[1]] == ["1", "250", "00"]


def test_a_shadow_over_most_of_the_page_does_not_make_it_a_board():
    page = blank_page(800, 600, tone=200)
    page[:, 250:] = 70  # a deep shadow over two thirds of the paper: the median is dark
    write_number(page, "4096", 300, 200, height=80, ink=20)
    write_number(page, "17", 40, 300, height=80, ink=60)
    assert not is_dark_background(page)


def test_a_bright_board_with_little_writing_is_still_a_board():
    board = blank_page(800, 600, tone=140)  # a green board photographed bright
    rng = np.random.default_rng(1)
    board = np.clip(board + rng.normal(0, 4, board.shape), 0, 255).astype(np.uint8)
    chalk = blank_page(800, 600, tone=0)
    write_number(chalk, "57", 100, 80, height=40, ink=255)
    write_number(chalk, "908", 100, 200, height=40, ink=255)  # under 0.5% of the board is writing
    board = np.maximum(board, (chalk.astype(np.float32) * 0.85).astype(np.uint8))
    assert is_dark_background(board)
    assert ink_mask(board)[80:120, 100:160].any()


def test_a_bright_page_with_a_few_small_numbers_is_paper():
    page = blank_page(1600, 1200, tone=236)
    rng = np.random.default_rng(2)
    page = np.clip(page + rng.normal(0, 3, page.shape), 0, 255).astype(np.uint8)
    write_number(page, "7", 100, 100, height=40, ink=60)
    write_number(page, "155", 300, 100, height=40, ink=60)
    assert not is_dark_background(page)


class _RingsDoubtful:
    """A fake classifier: a crop inked at its centre is a sure 1; a ring (a hole at its
    centre) is a 0 read with confidence 0.4, an 8 and 'not a digit' 0.3 each; a crop with a
    long bar across (a bar and a stem: a box's corner, or a 7) is no digit at 0.55, a 7 at 0.45."""

    num_classes = 11

    def predict(self, batch: np.ndarray) -> np.ndarray:
        probs = np.zeros((len(batch), 11), np.float32)
        corner = ((batch[..., 0] > 0.5).sum(axis=2) >= 11).any(axis=1)  # a long bar across
        centre = ~corner & (batch[:, 12:16, 12:16, 0].mean(axis=(1, 2)) > 0.5)
        ring = ~corner & ~centre
        probs[centre, 1] = 0.99
        probs[centre, 10] = 0.01
        probs[ring, 0] = 0.4
        probs[ring, 8] = 0.3
        probs[ring, 10] = 0.3
        probs[corner, 7] = 0.45
        probs[corner, 10] = 0.55
        return probs


def test_a_doubtful_digit_stands_within_a_number_not_alone():
    import cv2

    from digitscan import Scanner

    page = np.full((300, 600), 235, np.uint8)

    def one(x: int, y: int) -> None:
        cv2.line(page, (x + 12, y), (x + 12, y + 60), 30, 6)

    def ring(x: int, y: int) -> None:
        cv2.ellipse(page, (x + 18, y + 30), (15, 28), 0, 0, 360, 30, 6)

    def corner(x: int, y: int) -> None:
        cv2.polylines(page, [np.array([(x, y + 3), (x + 34, y + 3), (x + 30, y + 60)])], False, 30, 6)

    one(40, 40), ring(85, 40), one(130, 40)  # 1 0 1, the 0 doubtful between sure digits
    ring(400, 40)  # a doubtful 0 alone
    one(40, 180), corner(80, 180), one(130, 180)  # 1 7 1, the 7 read as no digit first
    corner(400, 180)  # a lone corner
    result = Scanner(classifier=_RingsDoubtful()).scan(page)
    assert [n.text for n in result.numbers] == ["101", "171"]
    assert [d.label for d in result.digits] == [1, 0, 1, 1, 7, 1]
    # Alone in a form's box, a doubtful digit stands: the box says something is written there.
    boxed = page.copy()
    cv2.rectangle(boxed, (360, 25), (580, 120), 20, 3)
    assert [n.text for n in Scanner(classifier=_RingsDoubtful()).scan(boxed).numbers] == ["101", "0", "171"]
    everything = Scanner(classifier=_RingsDoubtful(), min_confidence=0.0).scan(page)
    assert [n.text for n in everything.numbers] == ["101", "171"]  # under 0.5, never alone
    sure_only = Scanner(classifier=_RingsDoubtful(), min_confidence=0.5).scan(page)
    assert [n.text for n in sure_only.numbers] == ["1", "1", "1", "1"]
