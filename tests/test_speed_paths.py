"""The fast paths of the stages give exactly what the plain way of computing them gives.

The model was trained on crops that `to_mnist` made one at a time, and the ink mask decides what
is read: a faster way to the same result must be the same result, to the last bit.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitscan.normalize import crops_to_mnist, normalize_crops, stroke_width, to_mnist
from digitscan.preprocess import MIN_CONTRAST, _may_show_outside, _median_level, contrast_map, ink_threshold, outside_page
from digitscan.read import read_image
from digitscan.result import Box
from digitscan.segment import _components, find_blobs
from digitscan.touching import cut_paths
from tests.images import blank_page, digit_image, write_number


def _strokes(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Crops of pen strokes of every size and width, some of them gray levels, some symmetric."""
    crops = []
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        crop = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            p1 = tuple(int(v) for v in rng.integers(0, max(h, w), 2))
            p2 = tuple(int(v) for v in rng.integers(0, max(h, w), 2))
            cv2.line(crop, p1, p2, int(rng.choice([255, 255, 90])), int(rng.integers(1, 10)))
        crops.append(crop)
    # Shapes whose centre of mass falls exactly halfway between two pixels of the 28x28 field.
    for h, w in ((30, 8), (31, 9), (40, 40), (12, 30), (2, 2), (1, 5)):
        crops.append(np.full((h, w), 255, np.uint8))
        cross = np.zeros((h, w), np.uint8)
        cross[h // 2, :], cross[:, w // 2] = 255, 255
        crops.append(cross)
    crops += [digit_image(d) for d in range(10)]  # gray levels, as MNIST's own
    return crops


def test_batch_normalization_equals_one_crop_at_a_time():
    crops = _strokes(np.random.default_rng(0), 400)
    crops += [np.zeros((6, 4), np.uint8), np.zeros((0, 3), np.uint8), digit_image(3).astype(np.float32) / 255]
    one_by_one = np.stack([to_mnist(c) for c in crops])[..., None]
    assert np.array_equal(crops_to_mnist(crops), one_by_one)
    assert crops_to_mnist([]).shape == (0, 28, 28, 1)


def test_normalize_crops_cuts_boxes_from_the_page_mask():
    page = blank_page(600, 120, 235)
    inked = write_number(page, "40729", 10, 20, height=70)
    mask = cv2.threshold(page, 128, 255, cv2.THRESH_BINARY_INV)[1]
    boxes = [Box(*b) for b in inked] + [Box(x, 0, 60, 120) for x in range(0, 300, 55)] + [Box(590, 0, 10, 10)]
    expected = np.stack([to_mnist(mask[b.y : b.y2, b.x : b.x2]) for b in boxes])[..., None]
    assert np.array_equal(normalize_crops(mask, boxes), expected)
    assert not expected[-1].any() and expected[0].any()


def test_stroke_width_reads_gray_levels_as_ink():
    for crop in _strokes(np.random.default_rng(1), 100):
        assert stroke_width(crop) == stroke_width((crop > 0).astype(np.uint8) * 255)


def _otsu_over_a_full_histogram(contrast: np.ndarray) -> int:
    """`ink_threshold` the plain way: a histogram of every pixel, the low levels then dropped."""
    lo, hi = int(MIN_CONTRAST * 255), int(0.28 * 255)
    hist = cv2.calcHist([contrast], [0], None, [256], [0, 256]).ravel()
    hist[: lo // 2 + 1] = 0
    total = hist.sum()
    if total < 32:
        return hi
    levels = np.arange(256, dtype=np.float64)
    weight, mass = np.cumsum(hist), np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = weight * (total - weight) * (mass / weight - (mass[-1] - mass) / (total - weight)) ** 2
    return int(np.clip(int(np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0))), lo, hi))


def test_ink_threshold_equals_otsu_over_a_full_histogram():
    rng = np.random.default_rng(2)
    maps = [np.zeros((40, 40), np.uint8), np.full((30, 50), 200, np.uint8)]
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 200, 2))
        maps.append(np.clip(rng.normal(rng.integers(0, 80), rng.integers(1, 60), (h, w)), 0, 255).astype(np.uint8))
        maps.append(((rng.random((h, w)) < 0.05) * rng.integers(20, 256)).astype(np.uint8))
    page = blank_page(800, 600, 215)
    write_number(page, "3158", 60, 100, height=70)
    maps.append(contrast_map(page))
    for contrast in maps:
        assert ink_threshold(contrast) == _otsu_over_a_full_histogram(contrast)


@pytest.mark.parametrize("seed", range(40))
def test_no_outside_page_is_missed_where_the_shrink_is_skipped(seed):
    rng = np.random.default_rng(seed)
    # A smooth background: paper, a shadow, and sometimes a darker table along one side.
    h, w = 300, 400
    yy, xx = np.mgrid[0:h, 0:w]
    bg = 150 + 90 * rng.random() - 60 * rng.random() * xx / w - 40 * rng.random() * yy / h
    if seed % 2:
        bg[:, : int(rng.integers(5, 120))] *= rng.uniform(0.2, 0.8)
    bg = np.clip(bg, 0, 255).astype(np.uint8)
    if not _may_show_outside(bg):
        assert not outside_page(cv2.resize(bg, (64, 64), interpolation=cv2.INTER_AREA)).any()


def test_a_page_on_a_table_still_has_its_surroundings_left_out():
    photo = np.full((600, 800), 50, np.uint8)  # a dark table
    photo[60:540, 100:700] = 215  # the page
    write_number(photo[60:540, 100:700], "96", 100, 100, height=80)
    contrast = contrast_map(photo)
    assert contrast[:, :40].max() == 0 and contrast[:20].max() == 0
    assert contrast[160:240, 200:300].max() > 100  # the writing


def test_a_large_jpeg_is_decoded_reduced_in_grayscale_and_its_colour_only_when_asked():
    img = cv2.cvtColor(blank_page(1600, 1200, 210), cv2.COLOR_GRAY2BGR)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    page = read_image(data, work_size=800)
    assert page.gray.shape == (600, 800) and page.scale == 0.5
    assert np.array_equal(page.gray, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2))
    assert page._full_gray is None and page._array is None  # nothing decoded at full size yet
    assert page.color().shape == (1200, 1600, 3)


def _lines_and_specks(seed: int) -> np.ndarray:
    """A mask of any size (one pixel wide or tall too) holding strokes and single pixels."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((int(rng.integers(1, 300)), int(rng.integers(1, 300))), np.uint8)
    for _ in range(int(rng.integers(0, 40))):
        p1, p2 = (tuple(int(v) for v in rng.integers(0, 300, 2)) for _ in range(2))
        cv2.line(mask, p1, p2, 255, int(rng.integers(1, 6)))
    mask[rng.random(mask.shape) < 0.01] = 255
    return mask


def _dense(density: float) -> np.ndarray:
    """A 90x130 mask of 2x2 specks, few or many."""
    mask = (np.random.default_rng(0).random((90, 130)) < density).astype(np.uint8) * 255
    return cv2.dilate(mask, np.ones((2, 2), np.uint8))


@pytest.mark.parametrize("make, arg", [(_lines_and_specks, seed) for seed in range(4)]
                         + [(_dense, d) for d in (0.005, 0.05, 0.3)])
def test_blob_statistics_equal_opencvs(make, arg):
    mask = make(arg)
    labels, stats = _components(mask)
    n, want_labels, want_stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
    assert np.array_equal(labels, want_labels)
    assert np.array_equal(stats, want_stats[1:]) and len(stats) == n - 1


def test_no_blobs_on_an_empty_mask():
    assert find_blobs(np.zeros((5, 5), np.uint8))[1].shape == (0, 5)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (7, 1), (2, 3), (300, 400), (301, 399)])
def test_median_level_equals_numpys(shape):
    rng = np.random.default_rng(sum(shape))
    for image in (rng.integers(0, 256, shape), rng.integers(120, 124, shape), np.full(shape, 255)):
        image = image.astype(np.uint8)
        assert _median_level(image) == float(np.median(image))


def test_bent_cuts_equal_the_plain_search():
    """`cut_paths` against a plain dynamic programme over every row, one cut at a time."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        crop = (rng.random((h, w)) < 0.3).astype(np.uint8) * 255
        cols = sorted({0, w, *(int(c) for c in rng.integers(1, w, 3))})
        reach = int(rng.integers(1, 5))
        got = cut_paths(crop, cols, reach)
        for n, col in enumerate(cols):
            xs = np.clip(col + np.arange(-reach, reach + 1), 0, w)
            ink = np.pad((crop > 0).astype(np.float32), ((0, 0), (0, 1)))
            lean = 0.02 * np.abs(np.arange(-reach, reach + 1))
            total = ink[0, xs] + lean
            back = []
            for y in range(1, h):
                best = np.array([min((total[k + d], d) for d in (-1, 0, 1) if 0 <= k + d < len(xs))
                                 for k in range(len(xs))], dtype=object)
                back.append([d for _, d in best])
                total = np.array([v for v, _ in best], np.float64) + ink[y, xs] + lean
            at = int(np.argmin(total))
            path = [0] * h
            for y in range(h - 1, -1, -1):
                path[y] = int(xs[at])
                if y:
                    at += back[y - 1][at]
            if col <= 0 or col >= w:
                path = [col] * h
            assert got[n].tolist() == path
