"""The Scanner: the one place where the stages are chained.

    read -> preprocess (ink mask) -> segment (candidate boxes) -> normalize (28x28 crops)
    -> classify (one batched call) -> split touching digits -> group (numbers) -> ScanResult
"""

from __future__ import annotations

from pathlib import Path
from statistics import median

import cv2
import numpy as np

from .classify import NOT_A_DIGIT, Classifier, load_classifier
from .group import group_numbers, label_digits
from .normalize import crops_to_mnist, normalize_crops
from .preprocess import contrast_map, ink_from_contrast
from .read import DEFAULT_MAX_PIXELS, ImageSource, read_image
from .result import Box, Digit, Number, ScanResult
from .segment import (
    Field,
    clean_mask,
    connected_groups,
    cut_off_by_frame,
    deskew,
    estimate_skew,
    find_blobs,
    field_index,
    find_fields,
    in_one_cell,
    map_box,
    sort_blobs,
    typical_height,
)
from .touching import Split, split_touching

# Writing shorter than this (in working pixels) is read again from a less reduced image.
MIN_DIGIT_HEIGHT = 20
# Pages tilted less than this (degrees) are read as they are.
MIN_SKEW = 1.0
# A blob is tried as digits touching only when it is at least this tall, relative to the
# writing's height: digits touching are as tall as the writing (printed letters are not).
SPLIT_MIN_HEIGHT = 0.65
# A blob that reads as no digit is read again from its darkest ink, this share of it left out.
DARKER_SHARE = 0.4
# ... and so is a whole blob read as a digit with less confidence than this.
UNSURE = 0.8
# Pairs of outline points compared at most, to find where two pieces of a stroke come nearest.
BRIDGE_PAIRS = 40_000
# A small mark joins a digit as a piece of it only this near (relative to the writing's height).
MARK_REACH = 0.12
# Letters of a word stand at most this far apart (relative to the taller one's height) ...
WORD_GAP = 0.35
# ... are at most this tall, relative to the writing's (printed labels are smaller than the
# handwriting, and a full-height blob that reads as no digit is a digit badly written) ...
WORD_LETTER_HEIGHT = 0.75
# ... and a run of blobs is a word when those read as no digit are at least this share of the digits.
WORD_LETTERS = 0.4
# A letter-sized blob read as a digit with less confidence than this counts as a letter there.
WORD_UNREAD = 0.5
# The least confidence of a digit reported (the default of min_confidence), and of one standing
# alone: a digit read with less than SURE_ALONE stands only within a number of surer digits
# (see _doubtful_alone).
MIN_CONFIDENCE = 0.2
SURE_ALONE = 0.5


class Scanner:
    """Finds and reads handwritten digits in images.

    Args:
        model: a `.tflite` or `.keras` model file; None for $DIGITSCAN_MODEL or the shipped model.
        backend: "auto", "litert" or "keras".
        min_confidence: digits read with less confidence than this are left out; one read with
            less than SURE_ALONE (0.5) is kept only within a number that holds a surer digit,
            and not across a separator from it, or in a form's field.
        max_pixels: images declaring more pixels are refused before decoding.
        work_size: large images are first worked on at a size whose long side is at least this
            (JPEGs decoded at that size directly), and at a finer one if the writing is small.
        classifier: an object with `predict(batch) -> probabilities`, instead of a model file.

    >>> scanner = Scanner()
    >>> page = np.full((120, 200), 255, np.uint8)
    >>> scanner.scan(page).numbers
    []
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        backend: str = "auto",
        min_confidence: float = MIN_CONFIDENCE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        work_size: int = 800,
        classifier: Classifier | None = None,
    ):
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within 0..1, got {min_confidence}")
        self.classifier = classifier or load_classifier(model, backend)
        self.min_confidence = min_confidence
        self.max_pixels = max_pixels
        self.work_size = work_size

    def scan(self, image: ImageSource, *, source: str | None = None, trace: bool = False) -> ScanResult:
        """Read the digits and numbers in one image (a path, encoded bytes, or an array)."""
        page = read_image(image, source=source, max_pixels=self.max_pixels, work_size=self.work_size)
        contrast = contrast_map(page.gray)
        mask = ink_from_contrast(contrast)
        blobs = find_blobs(mask)
        # Coarse to fine: writing too small at this size is read again at a finer one.
        while 0 < typical_height(blobs, mask.shape[0]) < MIN_DIGIT_HEIGHT and page.reduce > 1:
            page = page.at_reduce(page.reduce // 2)
            contrast = contrast_map(page.gray)
            mask = ink_from_contrast(contrast)
            blobs = find_blobs(mask)
        # A tilted page: turn it straight, so that rules and boxes are level again.
        back = None
        angle = estimate_skew(mask, blobs)
        if abs(angle) >= MIN_SKEW:
            straight, back = deskew(mask, angle)
            seg = clean_mask(straight)
        else:
            seg = clean_mask(mask, blobs)
            if cv2.countNonZero(seg.lines):
                # Printed lines far darker than the writing (a form filled in pencil) set the ink
                # threshold between the two inks, and the writing came out in specks: choose the
                # threshold again without the lines, and take that mask if it holds more ink.
                again = ink_from_contrast(contrast, exclude=cv2.dilate(seg.lines, np.ones((3, 3), np.uint8)))
                if cv2.countNonZero(again) > 1.1 * cv2.countNonZero(mask):
                    mask = again
                    seg = clean_mask(mask)
        clean = seg.mask
        boxes, marks = sort_blobs(seg)
        probs = self.classifier.predict(normalize_crops(clean, boxes))
        boxes, probs, marks = self._join_pieces(clean, boxes, probs, marks, seg.height)
        written = _written_height(boxes, probs, seg.height)
        # The form fields, told where they are still upright (a comb holds one digit a cell).
        fields = find_fields(seg.lines, seg.height)
        found, rejected = self._accept(clean, boxes, probs, written, fields)
        if back is None:
            found = self._read_darker(contrast, clean, found, rejected, set(boxes), written)
        found += _doubtful_blobs(boxes, probs, rejected, found, written)
        found = _drop_words(_drop_slivers(found, written), rejected, marks, written)
        h, w = page.gray.shape

        def to_original(box: Box) -> Box:
            if back is not None:
                box = map_box(box, back, w, h)
            return _to_original(box, page.scale, page.width, page.height)

        kept = [(Digit(label, conf, to_original(box)), field_index(box, fields))
                for box, label, conf in found if conf >= self.min_confidence]
        if back is not None:
            # On the turned page the photo's own edges no longer lie on the border: drop here what
            # the frame of the photo cuts off, as segment does on a page that was not turned.
            ref = seg.height / page.scale
            kept = [(d, f) for d, f in kept if not cut_off_by_frame(d.box, page.width, page.height, ref)]
        if marks and found and back is None:
            # A comma is written with the pen that wrote the digits; a speck far paler than they
            # are (where the faint lines of a printed form cross) is none.
            ink = median(_ink_depth(page.gray, b) for b, _, _ in found)
            marks = [m for m in marks if _ink_depth(page.gray, m) >= 0.5 * ink]
        if marks and found and cv2.countNonZero(seg.lines):
            digit_boxes = [b for b, _, _ in found]
            marks = [_through_line(m, seg.lines, digit_boxes) for m in marks]
        marks = [to_original(m) for m in marks]
        combs = {i for i, f in enumerate(fields) if f.comb}

        def grouped(kept: list[tuple[Digit, int | None]]) -> tuple[list[Digit], list[Number]]:
            return group_numbers([d for d, _ in kept], marks, fields=[f for _, f in kept], combs=combs)

        ordered, numbers = grouped(kept)
        # Printed labels read as digits go, and the lines are grouped again without them.
        field_of = {id(d): f for d, f in kept}
        fielded = {i for i, d in enumerate(ordered) if field_of[id(d)] is not None}
        labels = {id(ordered[i]) for i in label_digits(ordered, numbers, fielded)}
        if labels:
            kept = [(d, f) for d, f in kept if id(d) not in labels]
            ordered, numbers = grouped(kept)
        doubtful = _doubtful_alone(ordered, numbers, SURE_ALONE, {id(d) for d, f in kept if f is not None})
        if doubtful:
            kept = [(d, f) for d, f in kept if id(d) not in doubtful]
            ordered, numbers = grouped(kept)
        result = ScanResult(page.source, page.width, page.height, ordered, numbers, marks=marks, page=page)
        if trace:
            result.trace = {"mask": mask, "clean": clean, "boxes": boxes, "height": seg.height,
                            "turned": back is not None, "found": [d for d, _, _ in found],
                            "crops": normalize_crops(clean, [d for d, _, _ in found])}
        return result

    def _join_pieces(self, mask: np.ndarray, boxes: list[Box], probs: np.ndarray, marks: list[Box],
                     height: float) -> tuple[list[Box], np.ndarray, list[Box]]:
        """Join neighbouring blobs when the classifier reads them together as one clear digit and
        apart as less: the pieces of a stroke that a pen skipped or a fold broke. A small mark
        (too small to be a digit alone) may be such a piece too. Joined pieces may join again, so
        a digit broken in three comes back whole."""
        height = _written_height(boxes, probs, height)
        if not boxes or not height:
            return boxes, probs, marks
        for _ in range(3):
            joined = self._join_once(mask, boxes, probs, marks, height)
            if joined is None:
                break
            boxes, probs, marks = joined
        return boxes, probs, marks

    def _join_once(self, mask: np.ndarray, boxes: list[Box], probs: np.ndarray, marks: list[Box],
                   height: float) -> tuple[list[Box], np.ndarray, list[Box]] | None:
        """One round of `_join_pieces`; None when nothing joined."""
        n_boxes = len(boxes)
        conf = np.where(probs.argmax(axis=1) == NOT_A_DIGIT, 0.0, probs.max(axis=1))
        boxes = boxes + marks
        conf = np.concatenate([conf, np.zeros(len(marks))])
        pairs = []
        order = sorted(range(len(boxes)), key=lambda i: boxes[i].x)
        for a_pos, i in enumerate(order):
            for j in order[a_pos + 1 :]:
                a, b = boxes[i], boxes[j]
                if b.x - a.x2 > 0.25 * height:
                    break
                if min(a.y2, b.y2) - max(a.y, b.y) < -0.25 * height:
                    continue  # one far above the other (on another line, mostly)
                if i >= n_boxes and j >= n_boxes:
                    continue  # two marks do not make a digit
                if _hangs_below(boxes[i] if i >= n_boxes else None, b) or _hangs_below(
                        boxes[j] if j >= n_boxes else None, a):
                    continue  # a comma or a full stop after the digit, not a piece of it
                if b.x - a.x2 > MARK_REACH * height and (_dot(boxes[i], height) if i >= n_boxes
                                                          else j >= n_boxes and _dot(b, height)):
                    continue  # a dot standing clear beside a digit (a colon's) is no piece of it
                u = a.union(b)
                # One piece right above the other, a hair apart: a stroke broken across, which
                # may be much taller than the pieces that set `height`.
                stacked = (min(a.x2, b.x2) - max(a.x, b.x) >= 0.5 * min(a.w, b.w)
                           and max(a.y, b.y) - min(a.y2, b.y2) <= max(2, 0.1 * u.h))
                reach = 2.2 if stacked else 1.0
                # As wide as a broad 4 or a 5 whose bar flew off, and no wider.
                if u.w > (2.2 * 1.2 if stacked else 1.6) * height or u.h > 1.4 * reach * height:
                    continue
                if not stacked and min(conf[i], conf[j]) >= 0.9 and min(a.h, b.h) >= 0.75 * height:
                    continue  # two clear, full-height digits side by side
                pairs.append((i, j, u, stacked))
        if not pairs:
            return None
        labels = np.concatenate([probs.argmax(axis=1), np.full(len(marks), NOT_A_DIGIT)])
        joined = self.classifier.predict(crops_to_mnist([_bridged(mask, boxes[i], boxes[j], u, stacked)
                                                         for i, j, u, stacked in pairs]))
        used: set[int] = set()
        merged_boxes, merged_probs = [], []
        # The join that reads surest over the surer of its pieces goes first: two pieces of a
        # broken 1 one above the other join before one of them joins the clear 4 beside it, whose
        # reading gains nothing from it. A mark's join comes after every join of two blobs (a
        # mark reads as nothing alone, so any join gains much over it), and among joins that gain
        # alike, the one that reads surer first.
        sure = joined.max(axis=1)
        gain = sure - np.array([max(conf[i], conf[j]) for i, j, _, _ in pairs])
        with_mark = np.array([max(i, j) >= n_boxes for i, j, _, _ in pairs])
        for k in np.lexsort((-sure, -gain, with_mark)):
            i, j, u, stacked = pairs[k]
            label, c = int(joined[k].argmax()), float(sure[k])
            # Two pieces that are no digit alone lose nothing joined: a fair reading will do (not
            # for a mark: a dot beside a blob is no piece of it).
            least = 0.5 if max(conf[i], conf[j]) == 0 and max(i, j) < n_boxes else 0.9
            if i in used or j in used or label == NOT_A_DIGIT or c < least:
                continue
            # Side by side, the pieces must read worse apart; one above the other they cannot be
            # two digits of a number, however clear each piece alone (the foot of a 4 is a 1).
            # ...unless one is a fragment of the other, which reads the same with it.
            if not stacked and c <= min(conf[i], conf[j]) + 0.1 and not _fragment_of(
                    (boxes[i], int(labels[i])), (boxes[j], int(labels[j])), label, height):
                continue
            used.update((i, j))
            merged_boxes.append(u)
            merged_probs.append(joined[k])
        if not used:
            return None
        keep = [i for i in range(n_boxes) if i not in used]
        left_marks = [boxes[i] for i in range(n_boxes, len(boxes)) if i not in used]
        return ([boxes[i] for i in keep] + merged_boxes, np.vstack([probs[keep], np.array(merged_probs)]),
                left_marks)

    def _read_darker(self, contrast: np.ndarray, mask: np.ndarray, found: list[tuple[Box, int, float]],
                     rejected: list[Box], whole: set[Box], height: float) -> list[tuple[Box, int, float]]:
        """Read again, from its darker ink alone, a digit-sized blob that read as no digit and a
        whole blob read with little confidence: blur fills the loops of a small 8 or 6 at the
        page's threshold (no digit, or a 3 or a 5), and the core of the strokes shows them again.
        A blob no digit becomes one on a clear reading; an unsure digit takes the new reading
        when it is clear and far surer. One classifier call for both."""
        lost = [b for b in rejected if height and 0.7 * height <= b.h <= 1.5 * height and 0.3 * b.h <= b.w <= 1.3 * b.h]
        unsure = [k for k, (b, _, c) in enumerate(found) if c < UNSURE and b in whole]
        if not lost and not unsure:
            return found
        probs = self._darker_probs(contrast, mask, lost + [found[k][0] for k in unsure])
        found = list(found)
        for k, p in zip(unsure, probs[len(lost) :]):
            if p.argmax() != NOT_A_DIGIT and p.max() >= 0.9 and p.max() > found[k][2] + 0.2:
                found[k] = (found[k][0], int(p.argmax()), float(p.max()))
        return found + [(b, int(p.argmax()), float(p.max())) for b, p in zip(lost, probs)
                        if p.argmax() != NOT_A_DIGIT and p.max() >= 0.9]

    def _darker_probs(self, contrast: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """The classifier's reading of each box's darker ink (its lightest DARKER_SHARE left out),
        read twice: as it is, and thinned by a pixel (ink whose neighbour a pixel down and to
        the right is dark too), which takes away a line one pixel thin, such as a small printed
        box's outline round the digit, and leaves a pen's stroke. Of the two, the one that reads
        as a surer digit."""
        crops, thinned = [], []
        for b in boxes:
            ink = mask[b.y : b.y2, b.x : b.x2] > 0
            level = contrast[b.y : b.y2, b.x : b.x2]
            dark = level >= np.percentile(level[ink], DARKER_SHARE * 100) if ink.any() else ink
            thin = np.zeros_like(ink)
            thin[:-1, :-1] = ink[:-1, :-1] & dark[1:, 1:]
            crops.append(np.where(ink & dark, 255, 0).astype(np.uint8))
            thinned.append(np.where(thin, 255, 0).astype(np.uint8))
        probs = self.classifier.predict(crops_to_mnist(crops + thinned))
        plain, thin_probs = probs[: len(boxes)], probs[len(boxes) :]
        surer = thin_probs[:, :NOT_A_DIGIT].max(axis=1) > plain[:, :NOT_A_DIGIT].max(axis=1)
        return np.where(surer[:, None], thin_probs, plain)

    def _accept(self, mask: np.ndarray, boxes: list[Box], probs: np.ndarray, height: float,
                fields: list[Field]) -> tuple[list[tuple[Box, int, float]], list[Box]]:
        """Keep what reads as a digit; try to split what looks like digits touching (not in a
        cell of a comb, which holds one digit). Also returns the blobs that read as no digit, and
        that no split into digits replaced."""
        labels = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
        conf = probs.max(axis=1) if len(probs) else np.zeros(0)
        wide = [
            i for i, b in enumerate(boxes)
            # Only where a split could win (see _better_split): a blob no digit reads clearly in,
            # or one wider than any digit is written; and as tall as the writing, as digits
            # touching are (letters of a printed word run together are not).
            if b.w >= 0.6 * b.h and (labels[i] == NOT_A_DIGIT or conf[i] < 0.8 or b.w > 1.6 * b.h)
            and b.h >= SPLIT_MIN_HEIGHT * height and not in_one_cell(b, fields)
        ]
        splits = dict(zip(wide, split_touching(mask, [boxes[i] for i in wide], self.classifier.predict)))
        found: list[tuple[Box, int, float]] = []
        rejected: list[Box] = []
        for i, box in enumerate(boxes):
            split = splits.get(i)
            whole = float(conf[i]) if labels[i] != NOT_A_DIGIT else 0.0
            if split is not None and _better_split(box, whole, split):
                for piece, p in zip(split.boxes, split.probs):
                    found.append((piece, int(p.argmax()), float(p.max())))
            elif labels[i] != NOT_A_DIGIT:
                found.append((box, int(labels[i]), float(conf[i])))
            else:
                rejected.append(box)
        return _drop_overlaps(found), rejected


def _doubtful_blobs(boxes: list[Box], probs: np.ndarray, rejected: list[Box],
                    found: list[tuple[Box, int, float]], height: float) -> list[tuple[Box, int, float]]:
    """The blobs that read as no digit but as a digit at MIN_CONFIDENCE or more, of a digit's
    height and no wider than a digit, overlapping no digit found: doubtful digits (a 7 whose bar
    and stem make it look like a box's corner, an 8 whose loops ran shut), which then stand only
    within a number of surer digits (`_doubtful_alone`). `probs` are the classifier's readings of
    `boxes`; `rejected`, the boxes that read as no digit.

    >>> probs = np.array([[0, 0, 0, 0, 0, 0, 0, 0.4, 0, 0, 0.6], [0.1] * 10 + [0.0]])
    >>> boxes = [Box(0, 0, 20, 30), Box(30, 0, 20, 30)]
    >>> _doubtful_blobs(boxes, probs, boxes, [], 30)
    [(Box(x=0, y=0, w=20, h=30), 7, 0.4)]
    >>> _doubtful_blobs(boxes, probs, boxes, [], 60)  # half the writing's height: a mark
    []
    """
    if not height or not rejected:
        return []
    row = {b: k for k, b in enumerate(boxes)}
    taken = [b for b, _, _ in found]
    doubtful = []
    for b in rejected:
        k = row.get(b)
        if k is None or not 0.8 * height <= b.h <= 1.3 * height or b.w > 1.3 * b.h:
            continue
        label = int(probs[k][:NOT_A_DIGIT].argmax())
        conf = float(probs[k][label])
        if conf >= MIN_CONFIDENCE and not any(b.iou(t) > 0 for t in taken):
            doubtful.append((b, label, conf))
    return doubtful


def _doubtful_alone(digits: list[Digit], numbers: list[Number], least: float,
                    fielded: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """The ids of the digits read with less confidence than `least` that stand alone: in a
    number with no surer digit, or with a separator beside them (a printed label's letter before
    a colon). Within a number of surer digits, a doubtful digit is kept: a number is read as a
    whole, and a digit dropped from it spoils it as surely as a digit misread. So is one in a
    form's field (`fielded`, ids of such digits): the field says that something is written there.

    >>> box = Box(0, 0, 10, 20)
    >>> digits = [Digit(4, 0.4, box), Digit(6, 0.99, box), Digit(3, 0.35, box), Digit(7, 0.4, box)]
    >>> numbers = [Number("4:63", 0.4, box, (0, 1, 2)), Number("7", 0.4, box, (3,))]
    >>> sorted(id(digits[i]) for i in (0, 3)) == sorted(_doubtful_alone(digits, numbers, 0.5))
    True
    >>> _doubtful_alone(digits, numbers, 0.5, {id(digits[3])}) == {id(digits[0])}
    True
    """
    doubtful: set[int] = set()
    for number in numbers:
        members = [digits[i] for i in number.digits]
        sure = [d.confidence >= least for d in members]
        at = [i for i, ch in enumerate(number.text) if ch.isdigit()]
        for k, digit in enumerate(members):
            if sure[k] or id(digit) in fielded:
                continue
            beside = [number.text[i] for i in (at[k] - 1, at[k] + 1) if 0 <= i < len(number.text)]
            if not any(sure) or not all(ch.isdigit() for ch in beside):
                doubtful.add(id(digit))
    return doubtful


def _fragment_of(a: tuple[Box, int], b: tuple[Box, int], label: int, height: float) -> bool:
    """Of two pieces (box, label read alone), the shorter is a fragment (far shorter than the
    writing) that reaches into the other's columns, and the pair reads `label`, as the other
    does alone: the fragment is a piece of that digit (the tip of a 3 cut off by the sharpening
    of a photo), not a 1 beside it.

    >>> three = (Box(100, 8, 26, 47), 3)
    >>> _fragment_of((Box(95, 10, 8, 22), 1), three, label=3, height=47)
    True
    >>> _fragment_of((Box(60, 10, 8, 44), 1), three, label=3, height=47)
    False
    """
    (small, _), (_, other) = (a, b) if a[0].h < b[0].h else (b, a)
    (ba, _), (bb, _) = a, b
    if small.h >= 0.6 * height or min(ba.x2, bb.x2) <= max(ba.x, bb.x):
        return False
    return other == label


def _bridged(mask: np.ndarray, a: Box, b: Box, u: Box, stacked: bool) -> np.ndarray:
    """The ink of two pieces together (`u` their union), the gap between them closed across, as
    the stroke a pen skipped or a fold broke was: read with a gap, a broken 0 is half a 0. Only
    the gap is closed; the loops of the pieces stay open.

    >>> mask = np.zeros((30, 30), np.uint8); mask[5:25, 5:12] = mask[5:25, 15:22] = 255
    >>> mask[12:16, 17:20] = 0  # a small hole in the right piece
    >>> crop = _bridged(mask, Box(5, 5, 7, 20), Box(15, 5, 7, 20), Box(5, 5, 17, 20), False)
    >>> int(crop[5, 3]), int(crop[5, 8]), int(crop[8, 13])  # ink stays, the gap fills, the hole stays
    (255, 255, 0)
    """
    crop = mask[u.y : u.y2, u.x : u.x2]
    gap = max(b.y - a.y2, a.y - b.y2) if stacked else max(b.x - a.x2, a.x - b.x2)
    if gap < 1:
        return _bridged_across(crop, a, b, u)
    kernel = np.ones((gap + 2, 1) if stacked else (1, gap + 2), np.uint8)
    closed = cv2.morphologyEx(crop, cv2.MORPH_CLOSE, kernel)
    out = crop.copy()
    if stacked:
        lo = min(a.y2, b.y2) - u.y
        out[lo : lo + gap] = closed[lo : lo + gap]
    else:
        lo = min(a.x2, b.x2) - u.x
        out[:, lo : lo + gap] = closed[:, lo : lo + gap]
    return out


def _bridged_across(crop: np.ndarray, a: Box, b: Box, u: Box) -> np.ndarray:
    """Two pieces whose boxes overlap (a stroke broken aslant): their ink, joined by a stroke
    across the narrowest gap between them when it is short. A piece is the ink whose blobs lie
    within its box and not within the other's (a piece may itself be pieces joined before).

    >>> mask = np.zeros((30, 20), np.uint8); mask[2:14, 4:8] = 255; mask[17:28, 6:10] = 255
    >>> crop = _bridged_across(mask[2:28, 4:10], Box(4, 2, 4, 12), Box(6, 17, 4, 11), Box(4, 2, 6, 26))
    >>> cv2.connectedComponents(crop)[0] - 1  # one blob
    1
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    inside = [[k for k in range(1, n) if _within(stats[k], p, u) and not _within(stats[k], q, u)]
              for p, q in ((a, b), (b, a))]
    if not inside[0] or not inside[1]:
        return crop
    # The nearest points of two pieces lie on their outlines: only those are compared, and at
    # most BRIDGE_PAIRS pairs of them (every few points along a large digit's outline).
    pts = []
    for group in inside:
        piece = np.isin(labels, group).astype(np.uint8)
        contours, _ = cv2.findContours(piece, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        pts.append(np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32))
    step = max(1, int(np.ceil(np.sqrt(len(pts[0]) * len(pts[1]) / BRIDGE_PAIRS))))
    pa, pb = pts[0][::step], pts[1][::step]
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2))
    nearest, gap = d.argmin(axis=1), d.min(axis=1)
    if gap.min() > 0.3 * u.h:
        return crop
    # Across the gap wherever it is about as narrow as at its narrowest: a cut through a stroke
    # leaves a gap as wide all along, and the pen's stroke filled all of it.
    out = crop.copy()
    for i in np.flatnonzero(gap <= gap.min() + step + 1):
        cv2.line(out, tuple(int(v) for v in pa[i]), tuple(int(v) for v in pb[nearest[i]]), 255, 1 + step)
    return out


def _within(stat: np.ndarray, box: Box, u: Box) -> bool:
    """A blob's (x, y, w, h) in the crop of `u` lies within `box` (in page pixels)."""
    x, y, w, h = (int(v) for v in stat[:4])
    return box.x <= x + u.x and box.y <= y + u.y and x + u.x + w <= box.x2 and y + u.y + h <= box.y2


def _ink_depth(gray: np.ndarray, box: Box) -> float:
    """How much darker (lighter, on a board) than the paper around it the ink in a box is: the
    difference between the box's darkest tenth and the paper a few pixels around, over the paper.

    >>> page = np.full((40, 40), 200, np.uint8); page[10:20, 10:14] = 50; page[25:28, 25:28] = 170
    >>> round(_ink_depth(page, Box(10, 10, 4, 10)), 2), round(_ink_depth(page, Box(25, 25, 3, 3)), 2)
    (0.75, 0.15)
    """
    h, w = gray.shape
    x0, y0, x1, y1 = max(0, box.x - 3), max(0, box.y - 3), min(w, box.x2 + 3), min(h, box.y2 + 3)
    around = gray[y0:y1, x0:x1].ravel()
    inner = gray[box.y : box.y2, box.x : box.x2].ravel()
    if inner.size == 0:
        return 0.0
    bg = float(np.partition(around, 3 * around.size // 4)[3 * around.size // 4])
    ink = float(np.partition(inner, inner.size // 10)[inner.size // 10])
    return abs(bg - ink) / max(bg, 1.0)


def _drop_slivers(found: list[tuple[Box, int, float]], height: float) -> list[tuple[Box, int, float]]:
    """Drop the 1s far shorter than the writing that stand against a taller digit: slivers of
    it (a wall's stub it touched, the end of a stroke a cut took off), not digits of their own.

    >>> three, sliver = (Box(100, 10, 26, 40), 3, 0.99), (Box(127, 18, 4, 22), 1, 1.0)
    >>> [d[1] for d in _drop_slivers([three, sliver], height=40)]
    [3]
    >>> [d[1] for d in _drop_slivers([three, (Box(140, 10, 6, 38), 1, 1.0)], height=40)]
    [3, 1]
    """
    if not height:
        return found
    kept = []
    for k, (b, label, conf) in enumerate(found):
        if label == 1 and b.h < 0.65 * height and any(
                o.h > 1.3 * b.h and max(o.x - b.x2, b.x - o.x2) <= 2 and min(o.y2, b.y2) > max(o.y, b.y)
                for j, (o, _, _) in enumerate(found) if j != k):
            continue
        kept.append((b, label, conf))
    return kept


def _drop_words(found: list[tuple[Box, int, float]], rejected: list[Box], marks: list[Box],
                height: float) -> list[tuple[Box, int, float]]:
    """Drop the digits that are letters of a word: an o, an l or an S, shorter than the writing,
    written in one run with blobs that read as no digit and have a letter's size and shape (a
    printed label, "Room" or "Total"). A run is blobs on one line, each at most a letter's
    spacing from the next; it is a word when its letters are at least WORD_LETTERS of its digits
    (a digit that a scribble spoilt does not make a number of three a word).

    >>> o, l = (Box(40, 10, 12, 14), 0, 0.9), (Box(54, 6, 4, 18), 1, 0.99)
    >>> five = (Box(120, 0, 16, 30), 5, 0.99)
    >>> [d[1] for d in _drop_words([o, l, five], [Box(10, 6, 12, 18), Box(25, 10, 13, 14)], [], 30)]
    [5]
    >>> [d[1] for d in _drop_words([o, l, five], [], [], 30)]
    [0, 1, 5]

    A letter the model hardly reads as a digit (a bold t as a 4 at 0.3) makes a word too; the
    scanner leaves it out afterwards, unless a surer digit stands right beside it (`_doubtful_alone`):

    >>> t = (Box(54, 8, 9, 16), 4, 0.3)
    >>> [d[1] for d in _drop_words([o, t, five], [], [], 30)]
    [4, 5]
    >>> [d[1] for d in _drop_words([o, (t[0], 4, 0.9), five], [], [], 30)]
    [0, 4, 5]

    A line of small figures on a page of large writing is judged by its own height: a 4 and a
    0 beside a filled blob (a marker's 0, read as no digit) are no word:

    >>> four, zero = (Box(100, 10, 20, 37), 4, 0.99), (Box(124, 10, 20, 37), 0, 0.99)
    >>> [d[1] for d in _drop_words([four, zero], [Box(148, 10, 22, 37)], [], 60)]
    [4, 0]

    The pieces of a broken digit beside full-height digits spoil nothing:

    >>> three = (Box(60, 0, 18, 30), 3, 0.99)
    >>> [d[1] for d in _drop_words([five, three], [Box(82, 0, 16, 18), Box(82, 19, 16, 11)], [], 30)]
    [5, 3]
    """
    # A blob the model can hardly read as any digit (a t as a 4 at 0.3) is as much a letter as
    # one it reads as no digit.
    unread = {k for k, (_, _, conf) in enumerate(found) if conf < WORD_UNREAD}
    top = np.array([d[0].y for d in found], np.float64)
    tall = np.array([d[0].h for d in found], np.float64)

    def line_height(b: Box) -> float:
        # "Shorter than the writing" on a line of small figures is judged by that line's digits
        # (their upper quartile), not the page's: the line's own digits are no letters.
        same = np.minimum(top + tall, b.y2) - np.maximum(top, b.y) >= 0.5 * np.minimum(tall, b.h)
        return min(height, float(np.percentile(tall[same], 75))) if same.any() else height

    letters = [b for b in rejected + [found[k][0] for k in unread]
               if 0.25 * height <= b.h <= WORD_LETTER_HEIGHT * line_height(b) and 0.25 * b.h <= b.w <= 2.5 * b.h]
    if not letters or not found:
        return found
    # Kinds: 0 a digit read, 1 a letter (no digit), 2 a mark (links a run, counts as neither).
    # A digit as tall as the writing is no letter of a printed label, nor does it link one.
    short = [k for k, d in enumerate(found) if d[0].h <= WORD_LETTER_HEIGHT * line_height(d[0]) and k not in unread]
    items = [(found[k][0], 0) for k in short] + [(b, 1) for b in letters] + [(m, 2) for m in marks]
    order = sorted(range(len(items)), key=lambda k: items[k][0].x)
    links = []
    for pos, i in enumerate(order):
        a = items[i][0]
        for j in order[pos + 1 :]:
            b = items[j][0]
            if b.x - a.x2 > WORD_GAP * height:
                break
            if items[i][1] == 2 and items[j][1] == 2:
                continue
            # Side by side on one line, as letters stand (pieces of a broken digit lie one
            # over the other).
            beside = -0.4 * min(a.w, b.w) <= b.x - a.x2 <= WORD_GAP * max(a.h, b.h)
            if beside and min(a.y2, b.y2) - max(a.y, b.y) >= 0.5 * min(a.h, b.h):
                links.append((i, j))
    dropped: set[int] = set()
    for run in connected_groups(len(items), links):
        kinds = [items[k][1] for k in run]
        if kinds.count(1) and kinds.count(1) >= WORD_LETTERS * kinds.count(0):  # a word
            dropped.update(short[k] for k in run if items[k][1] == 0)
    return [d for k, d in enumerate(found) if k not in dropped]


def _drop_overlaps(found: list[tuple[Box, int, float]]) -> list[tuple[Box, int, float]]:
    """Of two readings that cover mostly the same ink, keep the surer one."""
    if len(found) < 2:
        return found
    found = sorted(found, key=lambda f: -f[2])
    b = np.array([f[0] for f in found], np.float64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None])
    ih = np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None])
    area = b[:, 2] * b[:, 3]
    # The share of the smaller box of each pair that lies inside the other.
    covered = np.clip(iw, 0, None) * np.clip(ih, 0, None) / np.minimum(area[:, None], area[None])
    keep = np.ones(len(found), bool)
    for i in range(len(found)):
        if keep[i]:
            keep[i + 1 :][covered[i, i + 1 :] >= 0.6] = False
    return [f for f, k in zip(found, keep) if k]


def _better_split(box: Box, whole: float, split: Split) -> bool:
    """A split wins when every piece reads clearly and, together, better than the blob whole."""
    least = float(split.probs.max(axis=1).min())
    # Two digits in less than a digit's width are more often one cut in two (a 0 as a 4 and a 1,
    # a blurred 8 as a 9 and a 3), and three there the strokes of one (a marker's 9 as 111).
    narrow = box.w < 0.9 * box.h
    if narrow and len(split.boxes) >= 3:
        return False
    if whole == 0.0:
        # Nothing is lost where the blob whole is no digit: a fair reading of each piece will
        # do (they are read as the scanner's min_confidence allows), but a sure one if narrow.
        return least >= (0.95 if narrow else 0.5)
    # A blob that reads as a digit gives way only to pieces that each read clearly: an unsure
    # piece is mostly a stroke of that digit cut off (the back of an 8 written as a B).
    if least < 0.9:
        return False
    if narrow:
        return split.score > whole + 0.2
    if box.w > 1.6 * box.h:  # wider than any one digit is written...
        # ...unless it reads surely as one (a 2 with a long lead-in stroke is not a 6 and a 2)
        return split.score > whole if whole >= 0.95 else split.score >= whole - 0.05
    return split.score > whole + 0.1


def _dot(box: Box, height: float) -> bool:
    """A dot: small and round, not a piece of a stroke (the bar of a 5, the tip of a 2).

    >>> _dot(Box(0, 0, 8, 9), 60), _dot(Box(0, 0, 6, 17), 60), _dot(Box(0, 0, 25, 6), 60)
    (True, False, False)
    """
    return max(box.w, box.h) <= 0.2 * height and box.h <= 2 * box.w and box.w <= 2 * box.h


def _through_line(mark: Box, lines: np.ndarray, digits: list[Box]) -> Box:
    """A mark standing on a printed line that the digits beside it stand clear of is a comma
    whose tail ran on into the line (a cheque's amount line) and went with it: its box is
    carried down through the line. A mark on a line the digits stand on too is left as it is:
    a point written on a ruled line.

    >>> lines = np.zeros((50, 100), np.uint8); lines[42:45] = 255
    >>> digits = [Box(10, 15, 20, 25), Box(45, 15, 20, 25)]  # their feet at row 39
    >>> _through_line(Box(33, 39, 5, 3), lines, digits)
    Box(x=33, y=39, w=5, h=6)
    >>> _through_line(Box(33, 39, 5, 3), lines, [Box(10, 17, 20, 25), Box(45, 17, 20, 25)])
    Box(x=33, y=39, w=5, h=3)
    """
    y, cols = mark.y2, slice(max(0, mark.x - 1), mark.x2 + 1)
    if y >= lines.shape[0] or not lines[y, cols].any():
        return mark
    beside = [d for d in digits if d.y < mark.y and abs(d.x + d.w / 2 - (mark.x + mark.w / 2)) <= 1.5 * d.h]
    if not beside or any(d.y2 >= y for d in beside):
        return mark
    while y < lines.shape[0] and lines[y, cols].any():
        y += 1
    return Box(mark.x, mark.y, mark.w, y - mark.y)


def _hangs_below(mark: Box | None, digit: Box) -> bool:
    """A mark beside a digit that is punctuation, not a piece of it: its middle lies below the
    digit's foot, or low (in the bottom fifth of the digit's height) and clear of the digit's
    side (a comma whose tail a cheque's frame line took away).

    >>> nine = Box(53, 18, 20, 25)
    >>> _hangs_below(Box(74, 39, 5, 4), nine), _hangs_below(Box(60, 36, 5, 5), nine)
    (True, False)
    """
    if mark is None:
        return False
    cy, cx = mark.y + mark.h / 2, mark.x + mark.w / 2
    low = cy > digit.y2 - 0.2 * digit.h
    aside = cx >= digit.x2 + 0.1 * digit.w or cx <= digit.x - 0.1 * digit.w
    return cy > digit.y2 or (low and aside)


def _written_height(boxes: list[Box], probs: np.ndarray, height: float) -> float:
    """The height digits are written at: the median of the blobs read surely as digits, when
    there are a few; else the segmenter's estimate from blob shapes alone (which pieces of broken
    strokes pull down), or the height of the one or two sure digits if they are taller."""
    if len(probs):
        sure = (probs.argmax(axis=1) != NOT_A_DIGIT) & (probs.max(axis=1) >= 0.9)
        if sure.any():
            written = float(median(b.h for b, s in zip(boxes, sure) if s))
            return written if sure.sum() >= 3 else max(written, height)
    return height


def _to_original(box: Box, scale: float, width: int, height: int) -> Box:
    if scale == 1.0:
        return box
    x, y = int(box.x / scale), int(box.y / scale)
    x2, y2 = min(width, int(np.ceil(box.x2 / scale))), min(height, int(np.ceil(box.y2 / scale)))
    return Box(x, y, x2 - x, y2 - y)
