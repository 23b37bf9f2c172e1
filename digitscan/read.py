"""Read an image from a path, bytes or an array into what the pipeline works on.

The pipeline only needs a grayscale image, and a photo larger than it needs can be decoded at a
half or a quarter of its size by the JPEG decoder itself, which is far cheaper than decoding it
whole and shrinking it. The declared size is read from the file's header first, so that an image
claiming more pixels than `max_pixels` is refused before a byte of it is decoded.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from .errors import ImageReadError, ImageTooLargeError

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]

DEFAULT_MAX_PIXELS = 120_000_000  # a 108 MP phone photo fits; a decompression bomb does not
_REDUCED = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


@dataclass
class Page:
    """An image ready for the pipeline.

    Attributes:
        gray: the grayscale working image (uint8), possibly smaller than the original.
        width, height: the size of the image as the user sees it (after EXIF orientation).
        scale: working pixels per original pixel (1.0, 0.5, 0.25, ...).
        source: a name for messages and results (the path, or "<bytes>", "<array>").
    """

    gray: np.ndarray
    width: int
    height: int
    scale: float
    source: str
    _data: bytes | None = None
    _array: np.ndarray | None = None
    _full_gray: np.ndarray | None = None

    @property
    def reduce(self) -> int:
        return int(round(1 / self.scale))

    def color(self) -> np.ndarray:
        """The whole image in BGR at full size (decoded again when it came from a file)."""
        if self._array is not None:
            return _to_bgr(self._array, self.source)
        assert self._data is not None
        return _decode(self._data, self.source, reduce=1, color=True)

    def at_reduce(self, reduce: int) -> Page:
        """The same image with its working copy at 1/`reduce` of the full size."""
        if reduce == self.reduce:
            return self
        if self._full_gray is not None:
            gray = _shrink(self._full_gray, reduce)
        else:
            assert self._data is not None
            gray = _decode(self._data, self.source, reduce, color=False)
            if max(gray.shape) * reduce > 1.5 * max(self.width, self.height):
                gray = _shrink(_decode(self._data, self.source, 1, color=False), reduce)
        return Page(gray, self.width, self.height, gray.shape[1] / self.width, self.source,
                    self._data, self._array, self._full_gray)


def _shrink(gray: np.ndarray, reduce: int) -> np.ndarray:
    if reduce <= 1:
        return gray
    h, w = gray.shape
    return cv2.resize(gray, (max(1, w // reduce), max(1, h // reduce)), interpolation=cv2.INTER_AREA)


def choose_reduce(width: int, height: int, work_size: int) -> int:
    """The largest of 1, 2, 4, 8 that keeps the long side at least `work_size`."""
    reduce = 1
    while reduce < 8 and max(width, height) // (reduce * 2) >= work_size:
        reduce *= 2
    return reduce


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """The format and declared (width, height) of an encoded image, from its header alone.

    >>> image_size(bytes.fromhex("89504e470d0a1a0a0000000d49484452") + struct.pack(">II", 640, 480))
    ('png', 640, 480)
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return "gif", w, h
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return "bmp", abs(w), abs(h)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", 0, 0  # sizes live deep in the IFD; checked after decoding
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return "jpeg", w, h
        i += 2 + length
    return "jpeg", 0, 0


def _webp_size(data: bytes) -> tuple[str, int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return "webp", w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return "webp", w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return "webp", 0, 0


def _to_bgr(img: np.ndarray, source: str) -> np.ndarray:
    """Any decoded array (gray, BGR, BGRA, 16-bit, float) as 8-bit BGR; alpha laid on white."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        raise ImageReadError(f"{source}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        return (img[:, :, :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ImageReadError(f"{source}: unsupported array shape {img.shape}")


def _decode(data: bytes, source: str, reduce: int, color: bool) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    fmt = (image_size(data) or ("", 0, 0))[0]
    try:
        if fmt in ("png", "webp", "tiff", "gif"):
            # May carry alpha or 16 bits: decode as stored, then lay alpha on white.
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img is not None:
                img = _to_bgr(img, source)
                if reduce > 1:
                    img = cv2.resize(img, None, fx=1 / reduce, fy=1 / reduce, interpolation=cv2.INTER_AREA)
                if not color:
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        elif color:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        else:
            img = cv2.imdecode(buf, _REDUCED.get(reduce, cv2.IMREAD_GRAYSCALE))
    except cv2.error as exc:
        raise ImageReadError(f"{source}: cannot decode image ({str(exc).strip().splitlines()[-1]})") from None
    if img is None or img.size == 0:
        raise ImageReadError(f"{source}: corrupt or truncated {fmt.upper() or 'image'} data")
    return img


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return data


def read_image(
    image: ImageSource,
    *,
    source: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    work_size: int = 1024,
) -> Page:
    """Read an image for scanning.

    Args:
        image: a file path, the encoded bytes of an image file, or a decoded array (gray, BGR
            or BGRA, as OpenCV gives them).
        source: the name to use in results and messages (default: the path).
        max_pixels: refuse larger images before decoding them.
        work_size: an image whose long side is at least twice this is worked on at a half (or a
            quarter, an eighth) of its size; a JPEG is decoded at that size directly.

    Raises:
        ImageReadError: missing, empty, not an image, corrupt, or too large.

    >>> page = read_image(np.full((30, 40), 255, np.uint8))
    >>> (page.width, page.height, page.scale)
    (40, 30, 1.0)
    """
    if isinstance(image, np.ndarray):
        name = source or "<array>"
        if image.size == 0:
            raise ImageReadError(f"{name}: empty array")
        if image.shape[0] * image.shape[1] > max_pixels:
            raise ImageTooLargeError(f"{name}: {image.shape[1]}x{image.shape[0]} pixels is above the limit of {max_pixels:,}")
        bgr = _to_bgr(image, name)
        full = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        h, w = full.shape
        gray = _shrink(full, choose_reduce(w, h, work_size))
        return Page(gray, w, h, gray.shape[1] / w, name, _array=bgr, _full_gray=full)

    if isinstance(image, (bytes, bytearray, memoryview)):
        data, name = bytes(image), source or "<bytes>"
    else:
        path = Path(image)
        data, name = _read_bytes(path), source or str(image)
    if not data:
        raise ImageReadError(f"{name}: empty file (0 bytes)")
    header = image_size(data)
    if header is None:
        raise ImageReadError(f"{name}: not an image (unrecognized file format)")
    fmt, w, h = header
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{name}: {fmt.upper()} declares {w}x{h} pixels, above the limit of {max_pixels:,}")
    reduce = choose_reduce(w, h, work_size) if fmt == "jpeg" else 1
    gray = _decode(data, name, reduce, color=False)
    gh, gw = gray.shape[:2]
    if gw * gh * reduce * reduce > max_pixels:
        raise ImageTooLargeError(f"{name}: {gw * reduce}x{gh * reduce} pixels is above the limit of {max_pixels:,}")
    # The size as seen: EXIF orientation may have swapped the header's width and height.
    if w and h and reduce > 1:
        width, height = (w, h) if (gw >= gh) == (w >= h) else (h, w)
    else:
        width, height = gw * reduce, gh * reduce
    if fmt != "jpeg":
        # Decoded whole anyway: keep it, and work on a shrunk copy like a JPEG's.
        small = _shrink(gray, choose_reduce(width, height, work_size))
        return Page(small, width, height, small.shape[1] / width, name, _data=data, _full_gray=gray)
    return Page(gray, width, height, gw / width, name, _data=data)
