"""Reading images: every format a user may hand us, and every way a file can be bad."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from digitscan.errors import ImageReadError, ImageTooLargeError
from digitscan.read import image_size, read_image
from tests.images import jpeg_with_orientation


def _page() -> np.ndarray:
    img = np.full((60, 90, 3), 230, np.uint8)
    img[10:50, 20:26] = (40, 20, 20)
    return img


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def test_reads_path_bytes_and_array_alike(tmp_path):
    data = _png(_page())
    (tmp_path / "p.png").write_bytes(data)
    a = read_image(tmp_path / "p.png")
    b = read_image(data)
    c = read_image(_page())
    assert a.gray.shape == b.gray.shape == c.gray.shape == (60, 90)
    assert (a.width, a.height, a.scale) == (90, 60, 1.0)
    assert np.array_equal(a.gray, b.gray)
    assert a.source == str(tmp_path / "p.png") and b.source == "<bytes>" and c.source == "<array>"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, not an image"), "not an image"),
        (lambda p: p.write_bytes(cv2.imencode(".jpg", _page())[1].tobytes()[:40]), "corrupt or truncated"),
    ],
    ids=["missing", "directory", "zero-bytes", "text", "truncated-jpeg"],
)
def test_bad_files_raise_one_clear_error(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A PNG header declaring 50000x50000 pixels, with a tiny body: we must not try to decode it.
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    (tmp_path / "bomb.png").write_bytes(png + b"\x00" * 100)
    with pytest.raises(ImageTooLargeError, match="50000x50000"):
        read_image(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLargeError):
        read_image(_png(_page()), max_pixels=1000)


def test_sixteen_bit_grayscale_and_alpha(tmp_path):
    sixteen = (_page()[:, :, 0].astype(np.uint16) * 257)
    assert read_image(cv2.imencode(".png", sixteen)[1].tobytes()).gray[30, 22] < 60
    gray = read_image(cv2.imencode(".png", _page()[:, :, 0])[1].tobytes()).gray
    assert gray[30, 22] < 60 and gray[5, 5] > 200
    # Ink on a transparent background: transparent must become paper, not black.
    rgba = np.zeros((60, 90, 4), np.uint8)
    rgba[10:50, 20:26] = (0, 0, 0, 255)
    g = read_image(cv2.imencode(".png", rgba)[1].tobytes()).gray
    assert g[5, 5] == 255 and g[30, 22] == 0


def test_cmyk_jpeg_and_gif():
    rgb = Image.fromarray(cv2.cvtColor(_page(), cv2.COLOR_BGR2RGB))
    for mode, fmt in (("CMYK", "JPEG"), ("P", "GIF")):
        buf = io.BytesIO()
        rgb.convert(mode).save(buf, fmt)
        page = read_image(buf.getvalue())
        assert page.gray.shape == (60, 90), fmt
        assert page.gray[30, 22] < 100 and page.gray[5, 5] > 180, fmt


def test_exif_orientation_gives_the_image_as_seen():
    img = np.full((40, 100, 3), 255, np.uint8)
    img[:, :10] = 0  # a dark band on the left edge
    page = read_image(jpeg_with_orientation(img, 6))  # 6: rotate 90 degrees clockwise to view
    assert (page.width, page.height) == (40, 100)
    assert page.gray[:10, :].mean() < 60  # the band is now at the top


def test_large_jpeg_is_decoded_reduced_with_original_size():
    img = np.full((3024, 4032, 3), 220, np.uint8)
    page = read_image(cv2.imencode(".jpg", img)[1].tobytes(), work_size=2000)
    assert (page.width, page.height) == (4032, 3024)
    assert page.gray.shape == (1512, 2016) and page.scale == 0.5


def test_header_sizes():
    jpg = cv2.imencode(".jpg", _page())[1].tobytes()
    assert image_size(jpg) == ("jpeg", 90, 60)
    assert image_size(_png(_page())) == ("png", 90, 60)
    assert image_size(b"plain text") is None
