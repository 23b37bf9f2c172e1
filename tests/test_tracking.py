"""The tracker and smoother on synthetic detections: no model, no images."""

from __future__ import annotations

import pytest

from digitscan.result import Box, Digit, ScanResult
from digitscan.tracking import DigitTracker, ReadingSmoother


def row(labels: str, x: int, y: int = 40, w: int = 30, h: int = 45, gap: int = 8, conf: float = 0.95) -> list[Digit]:
    """One number's digits, side by side, starting at x."""
    return [Digit(int(c), conf, Box(x + i * (w + gap), y, w, h)) for i, c in enumerate(labels)]


def frame(*digits: list[Digit]) -> ScanResult:
    return ScanResult("<test>", 640, 480, [d for ds in digits for d in ds])


def test_one_frame_misreading_is_outvoted_and_raw_reading_kept():
    smoother = ReadingSmoother(window=5)
    readings = []
    for i in range(10):
        labels = "412" if i == 5 else "472"  # frame 5 misreads the 7 as a 1
        readings.append(smoother.update(frame(row(labels, 100 + 6 * i), row("96", 140 + 6 * i, y=150))))
    assert [r.texts for r in readings] == [["472", "96"]] * 10
    # The planted misreading is still in that frame's own scan, and only there.
    raw_tracker = DigitTracker(window=5)
    raw_labels = []
    for i in range(10):
        labels = "412" if i == 5 else "472"
        shown = raw_tracker.update(row(labels, 100 + 6 * i))
        raw_labels.append("".join(str(t.raw.label) for t in sorted(shown, key=lambda t: t.digit.box.x)))
    assert raw_labels[5] == "412" and raw_labels.count("472") == 9


def test_without_a_window_nothing_is_smoothed():
    smoother = ReadingSmoother(window=1)
    texts = [smoother.update(frame(row("412" if i == 3 else "472", 100 + 4 * i))).texts for i in range(6)]
    assert texts[3] == ["412"] and texts.count(["472"]) == 5


def test_a_lasting_change_wins_the_vote_after_a_majority_of_frames():
    smoother = ReadingSmoother(window=5)
    texts = [smoother.update(frame(row("3" if i < 6 else "8", 200))).texts[0] for i in range(12)]
    # Five 3s, then 8s: the 8 takes over once it has three of the last five readings.
    assert texts[:8] == ["3"] * 8
    assert texts[8:] == ["8"] * 4


def test_tracks_follow_a_page_that_speeds_up():
    tracker = DigitTracker(window=5)
    ids = []
    x = 50
    for step in (0, 14, 20, 26, 32, 38):
        # At 32-38 px a frame, a digit lands nearer where its neighbour was than where it was
        # itself: only the expected motion tells them apart.
        x += step
        shown = tracker.update(row("58", x, y=60 + step // 4))
        ids.append([t.track for t in sorted(shown, key=lambda t: t.digit.box.x) if t.raw is not None])
        assert [t.digit.label for t in sorted(shown, key=lambda t: t.digit.box.x)] == [5, 8]
    assert all(i == ids[0] for i in ids), ids
    assert len(ids[0]) == 2


def test_digits_appearing_elsewhere_start_new_tracks():
    tracker = DigitTracker()
    first = {t.track for t in tracker.update(row("58", 50))}
    tracker.update(row("58", 52))
    later = {t.track for t in tracker.update(row("3", 400, y=300)) if t.raw is not None}
    assert len(later) == 1 and first.isdisjoint(later)


def test_a_dropout_is_held_for_a_frame_or_two_then_dropped():
    tracker = DigitTracker(window=5, hold=2)
    for i in range(4):
        tracker.update(row("7", 100 + 5 * i))
    held = tracker.update([])
    assert len(held) == 1 and held[0].raw is None and held[0].digit.label == 7
    # Shown where the motion says it is now, not where it was last read.
    assert held[0].digit.box.x > 100 + 5 * 3
    assert len(tracker.update([])) == 1
    assert tracker.update([]) == []
    assert tracker.tracks == []


def test_a_one_frame_flash_is_not_held():
    tracker = DigitTracker(hold=2)
    tracker.update(row("1", 300))
    assert tracker.update([]) == []


def test_smoothed_numbers_are_regrouped_and_export_track_ids():
    smoother = ReadingSmoother(window=3)
    for i in range(3):
        reading = smoother.update(frame(row("2024", 40 + 3 * i), row("317", 60, y=200)))
    data = reading.to_dict()
    assert [n["text"] for n in data["numbers"]] == ["2024", "317"]
    tracks = [d["track"] for d in data["digits"]]
    assert len(set(tracks)) == 7
    assert all("held" not in d for d in data["digits"])


def test_held_digits_are_marked_in_the_export():
    smoother = ReadingSmoother(window=3, hold=1)
    for i in range(3):
        smoother.update(frame(row("45", 100)))
    reading = smoother.update(frame(row("4", 100)))  # the 5 drops out for one frame
    assert reading.texts == ["45"]
    assert [d.get("held", False) for d in reading.to_dict()["digits"]] == [False, True]


def test_many_digits_match_quickly_and_one_to_one():
    tracker = DigitTracker()
    page = [d for r in range(20) for d in row("0123456789", 10, y=10 + 50 * r, w=20, h=40, gap=4)]
    first = tracker.update(page)
    moved = [Digit(d.label, d.confidence, Box(d.box.x + 3, d.box.y + 2, d.box.w, d.box.h)) for d in page]
    second = tracker.update(moved)
    assert len(second) == 200
    assert sorted(t.track for t in first) == sorted(t.track for t in second)
    assert all(t.raw is not None and t.raw.label == t.digit.label for t in second)


def test_window_must_be_positive():
    with pytest.raises(ValueError):
        DigitTracker(window=0)


def test_a_page_that_jumped_far_between_frames_keeps_its_tracks():
    tracker = DigitTracker(window=5)
    page = row("3158", 100, y=100) + row("96", 140, y=180)
    first = {d.box: t.track for t in tracker.update(page) for d in [t.digit]}
    # 70 px right and 25 down at once, as between frames read far apart: every box lands on
    # or past its neighbour's old place.
    jumped = [Digit(d.label, d.confidence, Box(d.box.x + 70, d.box.y + 25, d.box.w, d.box.h)) for d in page]
    shown = tracker.update(jumped)
    assert len(shown) == 6 and all(t.raw is not None for t in shown)
    assert sorted(t.track for t in shown) == sorted(first.values())
    for t in shown:
        before = next(box for box, track in first.items() if track == t.track)
        assert (t.digit.box.x - before.x, t.digit.box.y - before.y) == (70, 25)


def test_an_outvoted_reading_is_shown_with_the_voted_digits_size():
    tracker = DigitTracker(window=5)
    for i in range(3):
        tracker.update([Digit(7, 0.9, Box(100 + i, 50, 30, 45))])
    # Misread as a narrow 1 in this frame: the 7 is shown, as wide as a 7, about the 1's centre.
    shown = tracker.update([Digit(1, 0.8, Box(111, 50, 10, 45))])
    assert shown[0].digit.label == 7 and shown[0].raw.label == 1
    assert shown[0].digit.box == Box(101, 50, 30, 45)
