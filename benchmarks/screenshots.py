"""Retake the README's screenshots of the web app, in headless Chromium.

    python benchmarks/screenshots.py [--out docs]

Starts the app on a free loopback port, draws a digit on the drawing page with the mouse, and
uploads a photographed page of handwritten (MNIST) numbers, made here, to the photo page. Saves
`draw.png` and `scan.png` in --out. Needs /usr/bin/chromium and `pip install playwright`.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_web_api import CANVAS, write_confident_number  # noqa: E402
from tests.images import blank_page  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 28) -> list[tuple[float, float]]:
    t = np.radians(np.linspace(start, end, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# A hand-drawn looking 2 and 5, in a unit box.
TWO = [arc(0.5, 0.3, 0.34, 0.28, 195, 365) + [(0.8, 0.42), (0.18, 1.0), (0.9, 0.98)]]
FIVE = [[(0.85, 0.02), (0.28, 0.0), (0.22, 0.45)] + arc(0.5, 0.68, 0.34, 0.3, 232, 505)]


def photographed_page(numbers: list[str]) -> bytes:
    """Warm paper in uneven light, blue ink: what a phone photo of a page of numbers looks like."""
    gray = blank_page(1000, 140 + 170 * len(numbers))
    for row, text in enumerate(numbers):
        write_confident_number(gray, text, (110, 460, 240)[row % 3], 80 + 170 * row, height=100)
    alpha = np.clip((235.0 - gray) / 205.0, 0, 1)[:, :, None]
    paper = np.array([200, 222, 236], np.float32) * np.linspace(1.0, 0.72, gray.shape[1])[None, :, None]
    photo = paper * (1 - alpha) + np.array([130, 45, 25], np.float32) * alpha
    photo += np.random.default_rng(3).normal(0, 1.2, photo.shape)
    ok, buf = cv2.imencode(".jpg", np.clip(photo, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from digitscan.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 620})
            page.goto(url + "/")
            box = page.locator("#canvas").bounding_box()
            sx, sy = box["width"] / CANVAS[1], box["height"] / CANVAS[0]
            for stroke in TWO:
                points = [(box["x"] + (290 + px * 150) * sx, box["y"] + (45 + py * 230) * sy) for px, py in stroke]
                page.mouse.move(*points[0])
                page.mouse.down()
                for point in points[1:]:
                    page.mouse.move(*point, steps=4)
                page.mouse.up()
            page.wait_for_function("document.getElementById('answer').textContent === '2'"
                                   " && document.body.dataset.idle === 'true'", timeout=15000)
            page.wait_for_timeout(400)  # let the bars finish their transition
            page.screenshot(path=str(args.out / "draw.png"))

            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(url + "/scan")
            photo = photographed_page(["2024", "317", "86"])
            page.set_input_files("#file", files=[{"name": "meter_log.jpg", "mimeType": "image/jpeg", "buffer": photo}])
            page.wait_for_function("!document.getElementById('result').hidden"
                                   " && document.getElementById('annotated').complete", timeout=15000)
            page.screenshot(path=str(args.out / "scan.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    print(f"saved {args.out / 'draw.png'} and {args.out / 'scan.png'}")


if __name__ == "__main__":
    main()
