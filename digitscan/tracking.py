"""Follow digits from frame to frame and vote on their labels, so that live readings do not flicker.

A digit read in one frame is matched to a track, the same digit seen in earlier frames, by the
overlap of its box with where the track's box is expected now (its last box moved by its last
motion). A digit that overlaps no track but lies within half a digit of one, and is about its
size, is matched too: a page moved fast overlaps little from one frame to the next. When most
tracks find no digit at once (the page jumped, or the frames are far apart), the one shift of
the whole page that lines up the most old boxes with new ones is found and matching is redone.

Each track shows the label that most of its last `window` readings agree on, so that one
frame's misreading is outvoted, and a digit that drops out of one or two frames is held at its
place.

The numbers are then formed again from the voted digits with :func:`digitscan.group.group_numbers`,
exactly as for a photo.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .group import group_numbers
from .result import Box, Digit, ScanResult


@dataclass
class Track:
    """One digit followed across frames."""

    id: int
    box: Box
    votes: deque[tuple[int, float]]  # (label, confidence) of the last readings
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # label -> (w, h) last read with it
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame of the box's centre
    hits: int = 1
    missed: int = 0  # frames since it was last read

    def expected_box(self) -> Box:
        """Where the box should be in the next frame, if it keeps moving as it did."""
        steps = self.missed + 1
        dx, dy = self.velocity
        return Box(int(round(self.box.x + dx * steps)), int(round(self.box.y + dy * steps)), self.box.w, self.box.h)

    def vote(self) -> tuple[int, float]:
        """The label most recent readings agree on, and its mean confidence among them.

        Ties go to the label read with more total confidence, then to the latest one.

        >>> t = Track(1, Box(0, 0, 10, 10), deque([(3, 0.9), (8, 0.6), (3, 0.8)]))
        >>> t.vote()
        (3, 0.85)
        """
        counts = Counter(label for label, _ in self.votes)
        total: dict[int, float] = {}
        latest: dict[int, int] = {}
        for i, (label, conf) in enumerate(self.votes):
            total[label] = total.get(label, 0.0) + conf
            latest[label] = i
        label = max(counts, key=lambda lab: (counts[lab], total[lab], latest[lab]))
        return label, round(total[label] / counts[label], 6)


@dataclass(frozen=True)
class TrackedDigit:
    """A digit as shown: its track, the voted label, and this frame's own reading (None when held)."""

    track: int
    digit: Digit
    raw: Digit | None


@dataclass
class SmoothedReading:
    """The voted digits of one frame and the numbers they form.

    Attributes:
        result: digits labelled by vote, in reading order, and the numbers they form.
        tracks: the track id of each of `result.digits`.
        held: whether each digit was missing in this frame and is shown where it was expected.
    """

    result: ScanResult
    tracks: list[int] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return self.result.texts

    def to_dict(self) -> dict[str, Any]:
        digits = []
        for d, track, held in zip(self.result.digits, self.tracks, self.held):
            item = d.to_dict()
            item["track"] = track
            if held:
                item["held"] = True
            digits.append(item)
        return {"digits": digits, "numbers": [n.to_dict() for n in self.result.numbers]}


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4: x, y, w, h) with every box in `b` (M, 4)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _box_for(track: Track, label: int, box: Box) -> Box:
    """This frame's box, but as wide and tall as the voted label was last read, about the same centre.

    A 7 misread as a 1 in one frame may have been cut narrower; the 7 shown keeps its size.
    """
    w, h = track.sizes.get(label, (box.w, box.h))
    if (w, h) == (box.w, box.h):
        return box
    return Box(int(round(box.x + (box.w - w) / 2)), int(round(box.y + (box.h - h) / 2)), w, h)


def _page_shift(expected: np.ndarray, found: np.ndarray, same_label: np.ndarray,
                max_boxes: int = 40) -> tuple[np.ndarray, int]:
    """The translation that lines up the most expected boxes with found ones (IoU >= 0.5), and how many.

    Every pairing of an expected box with a found box of about its height and the same label
    proposes a shift; each is scored by how many expected boxes it lines up.
    """
    e, f = expected[:max_boxes], found[:max_boxes]
    ratio = np.maximum(e[:, None, 3], f[None, :, 3]) / np.maximum(np.minimum(e[:, None, 3], f[None, :, 3]), 1.0)
    ti, fi = np.nonzero((ratio < 1.3) & same_label[:max_boxes, :max_boxes])
    if len(ti) == 0:
        return np.zeros(2), 0
    shifts = (f[fi, :2] + f[fi, 2:] / 2) - (e[ti, :2] + e[ti, 2:] / 2)
    best, best_count = np.zeros(2), 0
    for shift in shifts:
        moved = e.copy()
        moved[:, :2] += shift
        count = int((_iou_matrix(moved, f).max(axis=1) >= 0.5).sum())
        if count > best_count:
            best, best_count = shift, count
    return best, best_count


class DigitTracker:
    """Matches each frame's digits to tracks and keeps a short window of readings per track.

    Args:
        window: how many of a track's latest readings vote on its label.
        min_iou: the least overlap (with the expected box) for a match by overlap.
        hold: how many frames a track that was read at least twice is kept, and shown, when no
            digit is matched to it; after that it is dropped.

    >>> tracker = DigitTracker(window=3)
    >>> for label in (7, 1, 7):
    ...     shown = tracker.update([Digit(label, 0.9, Box(10, 10, 20, 30))])
    >>> [t.digit.label for t in shown], shown[0].raw.label
    ([7], 7)
    """

    def __init__(self, window: int = 5, min_iou: float = 0.3, hold: int = 2):
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.window = window
        self.min_iou = min_iou
        self.hold = hold
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (after a cut, or when the camera is pointed elsewhere)."""
        self.tracks = []

    def _match(self, digits: Sequence[Digit]) -> list[tuple[int, int]]:
        """Pairs (track index, digit index), best first, each track and digit used once."""
        if not self.tracks or not digits:
            return []
        expected = np.array([t.expected_box() for t in self.tracks], np.float64)
        last = np.array([t.box for t in self.tracks], np.float64)
        found = np.array([d.box for d in digits], np.float64)
        # The page moves as a whole: either it kept moving as it did (expected boxes), or it
        # stopped or turned back (last boxes). Take whichever explains more of this frame.
        pairs, total = self._pairs(expected, found)
        still, still_total = self._pairs(last, found)
        if (len(still), still_total) > (len(pairs), total):
            pairs = still
        if len(pairs) < 0.5 * min(len(expected), len(found)):
            # Most digits lost at once: the page (or camera) jumped, as between frames far
            # apart. Look for the one shift that lines up most of the old boxes with new ones.
            labels = np.array([t.vote()[0] for t in self.tracks])
            same = labels[:, None] == np.array([d.label for d in digits])[None, :]
            shift, aligned = _page_shift(last, found, same)
            if aligned > len(pairs) and aligned >= max(2, 0.5 * min(len(expected), len(found))):
                last[:, :2] += shift
                pairs, _ = self._pairs(last, found)
        return pairs

    def _pairs(self, expected: np.ndarray, found: np.ndarray) -> tuple[list[tuple[int, int]], float]:
        """Greedy one-to-one matching by score; the pairs and their total score."""
        score = self._scores(expected, found)
        total = 0.0
        pairs = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in np.argsort(-score, axis=None, kind="stable"):
            ti, di = divmod(int(flat), len(found))
            if score[ti, di] <= 0:
                break
            if ti in used_t or di in used_d:
                continue
            pairs.append((ti, di))
            total += float(score[ti, di])
            used_t.add(ti)
            used_d.add(di)
        return pairs, total

    def _scores(self, expected: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Match scores: 1 + IoU for overlap enough, below 1 for near misses, 0 for no match."""
        score = _iou_matrix(expected, found)
        # Near misses: centres within half a digit height and sizes alike still match, ranked
        # below any real overlap.
        ec = expected[:, :2] + expected[:, 2:] / 2
        fc = found[:, :2] + found[:, 2:] / 2
        dist = np.hypot(ec[:, None, 0] - fc[None, :, 0], ec[:, None, 1] - fc[None, :, 1])
        reach = 0.5 * np.maximum(expected[:, None, 3], found[None, :, 3])
        ratio = np.maximum(expected[:, None, 3], found[None, :, 3]) / np.maximum(
            np.minimum(expected[:, None, 3], found[None, :, 3]), 1.0)
        near = (score < self.min_iou) & (dist < reach) & (ratio < 1.6)
        return np.where(score >= self.min_iou, 1.0 + score, np.where(near, 1.0 - dist / np.maximum(reach, 1e-9), 0.0))

    def update(self, digits: Sequence[Digit]) -> list[TrackedDigit]:
        """Take one frame's digits; return the digits to show, labelled by vote."""
        pairs = self._match(digits)
        matched_t = {ti for ti, _ in pairs}
        matched_d = {di for _, di in pairs}
        shown: list[TrackedDigit] = []
        for ti, di in pairs:
            track, d = self.tracks[ti], digits[di]
            steps = track.missed + 1
            moved = ((d.box.x + d.box.w / 2 - track.box.x - track.box.w / 2) / steps,
                     (d.box.y + d.box.h / 2 - track.box.y - track.box.h / 2) / steps)
            if track.hits == 1:
                track.velocity = moved
            else:  # averaged, as boxes jitter by a pixel or two from frame to frame
                vx, vy = track.velocity
                track.velocity = (0.5 * vx + 0.5 * moved[0], 0.5 * vy + 0.5 * moved[1])
            track.box = d.box
            track.votes.append((d.label, d.confidence))
            track.sizes[d.label] = (d.box.w, d.box.h)
            track.hits += 1
            track.missed = 0
            label, conf = track.vote()
            shown.append(TrackedDigit(track.id, Digit(label, conf, _box_for(track, label, d.box)), d))
        kept: list[Track] = []
        found = np.array([d.box for d in digits], np.float64).reshape(-1, 4)
        for ti, track in enumerate(self.tracks):
            if ti in matched_t:
                kept.append(track)
                continue
            track.missed += 1
            if track.hits < 2 or track.missed > self.hold:
                continue  # seen once (a flash of noise), or gone
            places = np.array([track.expected_box(), track.box], np.float64)
            if len(found) and _iou_matrix(places, found).max() > 0.05:
                continue  # something read this frame stands where it would be: that replaces it
            kept.append(track)
            label, conf = track.vote()
            shown.append(TrackedDigit(track.id, Digit(label, conf, track.expected_box()), None))
        for di, d in enumerate(digits):
            if di in matched_d:
                continue
            track = Track(self._next_id, d.box, deque([(d.label, d.confidence)], maxlen=self.window),
                          sizes={d.label: (d.box.w, d.box.h)})
            self._next_id += 1
            kept.append(track)
            shown.append(TrackedDigit(track.id, d, d))
        self.tracks = kept
        return shown


class ReadingSmoother:
    """Turns each frame's scan into steady readings: tracked, voted digits regrouped into numbers.

    >>> smoother = ReadingSmoother(window=3)
    >>> frames = [[Digit(4, 0.9, Box(0, 0, 20, 30)), Digit(2, 0.9, Box(25, 0, 20, 30))],
    ...           [Digit(4, 0.9, Box(1, 0, 20, 30)), Digit(7, 0.6, Box(26, 0, 20, 30))],
    ...           [Digit(4, 0.9, Box(2, 0, 20, 30)), Digit(2, 0.9, Box(27, 0, 20, 30))]]
    >>> [smoother.update(ScanResult("v", 100, 40, d)).texts for d in frames]
    [['42'], ['42'], ['42']]
    """

    def __init__(self, window: int = 5, min_iou: float = 0.3, hold: int = 2):
        self.tracker = DigitTracker(window, min_iou, hold)

    def reset(self) -> None:
        self.tracker.reset()

    def update(self, raw: ScanResult) -> SmoothedReading:
        shown = self.tracker.update(raw.digits)
        by_digit = {id(t.digit): t for t in shown}
        # The frame's dots and commas, where the Scanner keeps them, so "1,250.00" stays whole.
        marks = getattr(raw, "marks", None)
        ordered, numbers = group_numbers([t.digit for t in shown], marks)
        result = ScanResult(raw.source, raw.width, raw.height, ordered, numbers, page=raw.page)
        tracks = [by_digit[id(d)].track for d in ordered]
        held = [by_digit[id(d)].raw is None for d in ordered]
        return SmoothedReading(result, tracks, held)
