"""Group digits into numbers: lines of writing, top to bottom, then runs of close digits.

A digit joins a line when its vertical centre lies within half a digit height of the line's
last digit (following the line as it drifts on a tilted page). In a line, a gap wider than
`gap` digit heights starts a new number.
"""

from __future__ import annotations

import numpy as np

from .result import Box, Digit, Number


def group_numbers(digits: list[Digit], gap: float = 0.75) -> tuple[list[Digit], list[Number]]:
    """Order digits in reading order and group them into numbers.

    Returns:
        The digits in reading order, and the numbers, whose `digits` index that list.

    >>> d = [Digit(2, 0.9, Box(40, 0, 20, 30)), Digit(1, 0.9, Box(10, 2, 20, 30)), Digit(7, 0.8, Box(10, 80, 20, 30))]
    >>> ordered, numbers = group_numbers(d)
    >>> [n.text for n in numbers]
    ['12', '7']
    """
    if not digits:
        return [], []
    heights = np.array([d.box.h for d in digits], np.float32)
    ref = float(np.median(heights))
    lines: list[list[Digit]] = []
    for d in sorted(digits, key=lambda d: d.box.x):
        cy = d.box.y + d.box.h / 2
        best, best_dist = None, None
        for line in lines:
            last = line[-1].box
            dist = abs(cy - (last.y + last.h / 2))
            tol = 0.5 * max(ref, min(last.h, d.box.h))
            if dist <= tol and (best_dist is None or dist < best_dist):
                best, best_dist = line, dist
        if best is None:
            lines.append([d])
        else:
            best.append(d)
    lines.sort(key=lambda line: float(np.median([d.box.y + d.box.h / 2 for d in line])))

    ordered: list[Digit] = []
    numbers: list[Number] = []
    for line in lines:
        run: list[int] = []
        for d in line:
            if run and d.box.x - ordered[run[-1]].box.x2 > gap * max(ref, d.box.h):
                numbers.append(_number(ordered, run))
                run = []
            ordered.append(d)
            run.append(len(ordered) - 1)
        numbers.append(_number(ordered, run))
    return ordered, numbers


def _number(ordered: list[Digit], run: list[int]) -> Number:
    box = ordered[run[0]].box
    for i in run[1:]:
        box = box.union(ordered[i].box)
    conf = float(np.prod([ordered[i].confidence for i in run]))
    return Number("".join(str(ordered[i].label) for i in run), conf, box, tuple(run))
