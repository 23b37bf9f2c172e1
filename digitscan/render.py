"""Draw a scan's digits and numbers onto the image, readable on any background.

Every box is drawn twice, a wide dark line under a thin bright one, and every label sits on a
filled plate, so that the marks show on white paper, a black board and a busy photo alike.
"""

from __future__ import annotations

import cv2
import numpy as np

from .result import ScanResult

DIGIT_COLOR = (0, 220, 255)  # amber (BGR)
NUMBER_COLOR = (255, 160, 0)  # azure
DARK = (20, 20, 20)


def _label(img: np.ndarray, text: str, x: int, y: int, scale: float, color: tuple[int, int, int]) -> None:
    thick = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y = max(th + base + 2, y)
    x = min(max(0, x), max(0, img.shape[1] - tw - 4))
    cv2.rectangle(img, (x, y - th - base - 4), (x + tw + 4, y), DARK, -1)
    cv2.putText(img, text, (x + 2, y - base - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def draw(image: np.ndarray, result: ScanResult, *, show_confidence: bool = False) -> np.ndarray:
    """A copy of a BGR image with each digit boxed and labelled and each number's reading above it.

    >>> from digitscan.result import Box, Digit, Number
    >>> r = ScanResult("x", 100, 60, [Digit(4, 0.9, Box(10, 20, 15, 25))], [Number("4", 0.9, Box(10, 20, 15, 25), (0,))])
    >>> draw(np.zeros((60, 100, 3), np.uint8), r).shape
    (60, 100, 3)
    """
    out = image.copy()
    size = max(out.shape[:2])
    line = max(1, size // 600)
    for d in result.digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w, y + h), DARK, line + 2)
        cv2.rectangle(out, (x, y), (x + w, y + h), DIGIT_COLOR, line)
        text = f"{d.label} {d.confidence:.2f}" if show_confidence else str(d.label)
        _label(out, text, x, y + h + int(max(12, h * 0.45)), max(0.35, h / 70), DIGIT_COLOR)
    for n in result.numbers:
        x, y, w, h = n.box
        pad = max(2, h // 8)
        cv2.rectangle(out, (x - pad, y - pad), (x + w + pad, y + h + pad), DARK, line + 2)
        cv2.rectangle(out, (x - pad, y - pad), (x + w + pad, y + h + pad), NUMBER_COLOR, line)
        _label(out, n.text, x - pad, y - pad - 2, max(0.45, h / 45), NUMBER_COLOR)
    return out
