"""Group digits into numbers: lines of writing, top to bottom, then runs of close digits.

A digit joins a line when its vertical centre lies within half a digit height of the line's
last digit (following the line as it drifts on a tilted page). In a line, a gap wider than
`gap` digit heights starts a new number. On a form, its fields decide instead: the digits in
one field are one number however far apart its cells hold them, and a number ends where its
field does.
"""

from __future__ import annotations

from statistics import median

import numpy as np

from .result import Box, Digit, Number


# Two digits side by side, one less than this share of the other's height, are not one number's
# (digits of one number vary in height, a wide 2 beside a 7, but not by half).
SIZE_BREAK = 0.5
# A number less than this share of the writing's height and of the number right after it, at
# most LABEL_GAP of that number's height before it, is a printed label (see label_digits).
LABEL_SIZE = 0.6
LABEL_GAP = 1.5


def group_numbers(
    digits: list[Digit], marks: list[Box] | None = None, gap: float = 1.0, fields: list[int | None] | None = None,
    combs: set[int] | frozenset[int] = frozenset(),
) -> tuple[list[Digit], list[Number]]:
    """Order digits in reading order and group them into numbers.

    Args:
        digits: the digits found, in any order.
        marks: small dots and commas; one low between two digits of a line joins them as a
            separator, written into the number's text ("1,250.00").
        gap: a gap wider than this many digit heights starts a new number.
        fields: for each digit, the form field it is written in (any id; None for none), each
            field meant for one number (see `digitscan.segment.find_fields`).
        combs: the fields that are combs, one digit a cell: no separator is written between
            their digits (a mark there is a remnant of a wall or a stroke, not a comma).

    Returns:
        The digits in reading order, and the numbers, whose `digits` index that list.

    >>> d = [Digit(2, 0.9, Box(40, 0, 20, 30)), Digit(1, 0.9, Box(10, 2, 20, 30)), Digit(7, 0.8, Box(10, 80, 20, 30))]
    >>> ordered, numbers = group_numbers(d)
    >>> [n.text for n in numbers]
    ['12', '7']

    A printed label's letters read as digits, half as tall, do not run into the number beside:

    >>> label = [Digit(0, 0.8, Box(100, 14, 10, 16)), Digit(8, 0.7, Box(112, 16, 9, 14))]
    >>> number = [Digit(4, 0.9, Box(135, 0, 20, 30)), Digit(2, 0.9, Box(160, 1, 20, 30))]
    >>> [n.text for n in group_numbers(label + number)[1]]
    ['08', '42']

    Gaps count in the heights of each line's own writing, not the page's:

    >>> large = [Digit(5, 0.9, Box(10 + 45 * k, 0, 40, 60)) for k in range(3)]
    >>> small = [Digit(3, 0.9, Box(10, 100, 14, 20)), Digit(9, 0.9, Box(54, 100, 14, 20))]
    >>> [n.text for n in group_numbers(large + small)[1]]
    ['555', '3', '9']
    """
    if not digits:
        return [], []
    field = {id(d): f for d, f in zip(digits, fields or [None] * len(digits))}
    ref = float(median(d.box.h for d in digits))
    lines: list[list[Digit]] = []
    ends: list[tuple[float, int]] = []  # the centre and height of each line's last digit
    for d in sorted(digits, key=lambda d: d.box.x):
        cy, h = d.box.y + d.box.h / 2, d.box.h
        best, best_dist = -1, 0.0
        for k, (last_cy, last_h) in enumerate(ends):
            dist = abs(cy - last_cy)
            if dist <= 0.5 * max(ref, min(last_h, h)) and (best < 0 or dist < best_dist):
                best, best_dist = k, dist
        if best < 0:
            lines.append([d])
            ends.append((cy, h))
        else:
            lines[best].append(d)
            ends[best] = (cy, h)
    lines.sort(key=lambda line: float(median(d.box.y + d.box.h / 2 for d in line)))

    ordered: list[Digit] = []
    numbers: list[Number] = []
    for line in lines:
        run: list[int] = []
        seps: dict[int, str] = {}  # separator written before the digit at this index
        # Gaps are measured in the heights of this line's writing: a page may hold lines of
        # small figures beside lines written twice as large.
        size = float(median(d.box.h for d in line))
        for d in line:
            if run:
                prev = ordered[run[-1]]
                sep = "" if field[id(d)] in combs else _separator(prev.box, d.box, marks or [])
                limit = gap * max(size, d.box.h) * (2.0 if sep else 1.0)
                here, before = field[id(d)], field[id(prev)]
                # Digits of one number are written at about one size: a printed label's letters
                # read as digits, half as tall, start no number of the writing beside them.
                resized = min(d.box.h, prev.box.h) < SIZE_BREAK * max(d.box.h, prev.box.h)
                if here != before or (here is None and (d.box.x - prev.box.x2 > limit or resized)):
                    numbers.append(_number(ordered, run, seps))
                    run, seps = [], {}
                elif sep:
                    seps[len(ordered)] = sep
            ordered.append(d)
            run.append(len(ordered) - 1)
        numbers.append(_number(ordered, run, seps))
    return ordered, numbers


def label_digits(ordered: list[Digit], numbers: list[Number],
                 fielded: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """The digits (indices into `ordered`) of printed labels read as digits: a number far
    smaller than the writing and than the number right after it (not a lone 1: maybe a bracket
    or a rule), just before it on its line ("Date 1028": the printed word, whose letters all
    look like digits, reads 0248). Digits written in a form's field (`fielded`) are never a label.

    >>> label = [Digit(0, 0.8, Box(100, 14, 10, 16)), Digit(8, 0.7, Box(112, 16, 9, 14))]
    >>> number = [Digit(d, 0.9, Box(135 + 25 * k, 0, 20, 30)) for k, d in enumerate((4, 2, 5, 0))]
    >>> sorted(label_digits(*group_numbers(label + number)))
    [0, 1]

    Not a small number after a large one, nor one before a lone 1 (a long 1 or a bracket):

    >>> sorted(label_digits(*group_numbers(number + [Digit(7, 0.9, Box(190, 14, 10, 16))])))
    []
    >>> sorted(label_digits(*group_numbers(label + number[2:] + [Digit(1, 0.9, Box(135, 0, 8, 30))])))
    []
    >>> sorted(label_digits(*group_numbers(label + number), fielded={0, 1}))  # written in a form's field
    []
    """
    if not numbers:
        return set()
    writing = float(median(d.box.h for d in ordered))
    out: set[int] = set()
    for a, b in zip(numbers, numbers[1:]):
        if (len(b.digits) == 1 and ordered[b.digits[0]].label == 1) or fielded.intersection(a.digits):
            continue
        small = max(ordered[i].box.h for i in a.digits)
        tall = float(median(ordered[i].box.h for i in b.digits))
        middle = a.box.y + a.box.h / 2
        if (small < LABEL_SIZE * min(tall, writing) and 0 <= b.box.x - a.box.x2 <= LABEL_GAP * tall
                and b.box.y <= middle <= b.box.y2):
            out.update(a.digits)
    return out


def _separator(left: Box, right: Box, marks: list[Box]) -> str:
    """',' or '.' when a small mark sits low in the gap between two digits, ':' when another
    sits above it; '' otherwise.

    >>> one, two = Box(0, 0, 20, 40), Box(40, 0, 20, 40)
    >>> low, high = Box(27, 34, 5, 5), Box(27, 14, 5, 5)
    >>> _separator(one, two, [low]), _separator(one, two, [low, high]), _separator(one, two, [high])
    ('.', ':', '')
    """
    h = (left.h + right.h) / 2
    base = (left.y2 + right.y2) / 2
    clear = max(1.0, 0.03 * h)  # a piece of a broken digit lies against it; a separator stands apart
    for m in marks:
        cy, cx = m.y + m.h / 2, m.x + m.w / 2
        # A comma hangs below the baseline and may start under the foot of the digit before it;
        # what sits on the baseline must stand apart from both digits.
        hangs = m.y2 > base + 0.08 * h
        start = left.x2 - 0.1 * h if hangs else left.x2 + clear
        if not (start <= m.x and cx > left.x2 and m.x2 + clear <= right.x and base - 0.2 * h <= cy <= base + 0.25 * h):
            continue
        if hangs and m.h <= 0.5 * h and m.w <= 0.4 * h and m.w <= 2 * m.h:
            return ","  # a comma's head and the tail it hangs by, as broad as a thick pen draws them
        if m.h > 0.4 * h or m.w > 0.3 * h or m.w > 2 * m.h:
            continue
        if m.h > 1.4 * m.w:
            return ","
        if m.h <= 0.22 * h:
            # A second dot right above, near the digits' middle, makes a colon (a time, 12:30).
            if any(o is not m and o.h <= 0.22 * h and o.w <= 0.3 * h and abs(o.x + o.w / 2 - cx) <= 0.15 * h
                   and base - 0.75 * h <= o.y + o.h / 2 <= base - 0.3 * h for o in marks):
                return ":"
            return "."
    return ""


def _number(ordered: list[Digit], run: list[int], seps: dict[int, str] | None = None) -> Number:
    box = ordered[run[0]].box
    for i in run[1:]:
        box = box.union(ordered[i].box)
    conf = float(np.prod([ordered[i].confidence for i in run]))
    text = "".join((seps or {}).get(i, "") + str(ordered[i].label) for i in run)
    return Number(text, conf, box, tuple(run))
