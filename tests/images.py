"""Images made in code for the tests: pages of handwritten (MNIST) digits, and broken files."""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT.parent / "shared" / "data" / "mnist"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Handwritten digits for test pages: the small committed MNIST subset."""
    from training.data import load_split

    return load_split(FIXTURES / "mnist_small", "test")


def digit_image(label: int, nth: int = 0) -> np.ndarray:
    """The nth committed 28x28 handwritten example of a digit (uint8, ink white on black)."""
    x, y = digits()
    return x[np.flatnonzero(y == label)[nth]]


def write_number(page: np.ndarray, text: str, x: int, y: int, height: int = 60,
                 ink: int = 30, nth: int = 0, gap: float = 0.15) -> list[tuple[int, int, int, int]]:
    """Write the digits of `text` on a grayscale page, dark ink; returns each digit's ink box."""
    boxes = []
    for ch in text:
        d = digit_image(int(ch), nth)
        ys, xs = np.nonzero(d > 30)
        d = d[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        scale = height / d.shape[0]
        big = cv2.resize(d, (max(1, int(d.shape[1] * scale)), height), interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(big.astype(np.float32) / 255.0, 0, 1)
        h, w = big.shape
        region = page[y : y + h, x : x + w].astype(np.float32)
        page[y : y + h, x : x + w] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)
        bys, bxs = np.nonzero(big > 60)
        boxes.append((x + int(bxs.min()), y + int(bys.min()), int(np.ptp(bxs) + 1), int(np.ptp(bys) + 1)))
        x += w + int(gap * height)
    return boxes


def blank_page(width: int = 800, height: int = 400, tone: int = 235) -> np.ndarray:
    return np.full((height, width), tone, np.uint8)


def jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG carrying an EXIF Orientation tag, as phone cameras write them."""
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    data = buf.tobytes()
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return data[:2] + segment + data[2:]
