"""The web app's JSON API through FastAPI's TestClient, with the real model on images made in code."""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
import zlib
from functools import lru_cache

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from digitscan.cli import cli  # noqa: E402
from digitscan.normalize import to_mnist  # noqa: E402
from digitscan.web.app import create_app  # noqa: E402
from tests.images import ROOT, blank_page, digits, write_number  # noqa: E402

CANVAS = (320, 720)  # the drawing page's canvas, height x width
# Digits as a mouse draws them: polylines in a unit box (x right, y down).
STROKES = {
    "1": [[(0.5, 0.0), (0.5, 1.0)]],
    "4": [[(0.6, 0.0), (0.1, 0.65), (0.85, 0.65)], [(0.62, 0.3), (0.62, 1.0)]],
    "7": [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
}


def stroke_paths(text: str, x: float, y: float, height: float, gap: float = 0.4) -> list[list[tuple[float, float]]]:
    """The strokes (canvas pixels) that write `text` from (x, y), digits `height` tall."""
    width = 0.6 * height
    paths = []
    for ch in text:
        paths += [[(x + px * width, y + py * height) for px, py in stroke] for stroke in STROKES[ch]]
        x += width * (1 + gap)
    return paths


def drawing(text: str, x: float = 300, y: float = 40, height: float = 240, pen: int = 18,
            ink: int = 17, paper: int = 255) -> np.ndarray:
    canvas = np.full(CANVAS, paper, np.uint8)
    for path in stroke_paths(text, x, y, height):
        cv2.polylines(canvas, [np.array(path, np.int32)], False, ink, pen, cv2.LINE_AA)
    return canvas


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


@lru_cache(maxsize=None)
def confident_nth(label: int) -> int:
    """The first committed example of a digit that the model, on its own, reads right and surely.

    Test pages are built from these, so the expected readings come from the images themselves.
    """
    from digitscan.classify import load_classifier

    classifier = load_classifier()
    x, y = digits()
    for nth, i in enumerate(np.flatnonzero(y == label)):
        probs = classifier.predict(to_mnist(x[i])[None, :, :, None])[0]
        if probs.argmax() == label and probs[label] >= 0.95:
            return nth
    raise AssertionError(f"no committed example of {label} is read surely")


def write_confident_number(page: np.ndarray, text: str, x: int, y: int, height: int = 64) -> None:
    for ch in text:
        (bx, _, bw, _), = write_number(page, ch, x, y, height, nth=confident_nth(int(ch)))
        x = bx + bw + int(0.25 * height)


def photo_page(numbers: tuple[str, ...] = ("2024", "317", "86")) -> bytes:
    """A JPEG page with handwritten (MNIST) numbers on separate lines."""
    page = blank_page(900, 140 + 130 * len(numbers))
    for row, text in enumerate(numbers):
        write_confident_number(page, text, 80 + 90 * row, 60 + 130 * row)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def app(scanner):
    return create_app(scanner, max_upload_bytes=300_000)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def classify(client, image: np.ndarray | bytes, name: str = "drawing.png"):
    data = image if isinstance(image, bytes) else png(image)
    return client.post("/api/classify", files={"file": (name, data, "image/png")})


def test_health_pages_and_docs(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["classes"] in (10, 11)
    assert health["max_upload_bytes"] == 300_000
    draw_page = client.get("/")
    assert draw_page.status_code == 200 and '<canvas id="canvas"' in draw_page.text
    scan_page = client.get("/scan")
    assert scan_page.status_code == 200 and 'type="file"' in scan_page.text
    for asset in ("/static/draw.js", "/static/scan.js", "/static/style.css"):
        assert client.get(asset).status_code == 200, asset
    # No page may load anything from another host: the app must work offline.
    for page in (draw_page.text, scan_page.text):
        assert "http://" not in page and "https://" not in page
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/scan", "/api/classify", "/health"} <= set(paths)
    assert client.get("/docs").status_code == 200  # the page itself; its assets come from a CDN


def test_scan_returns_what_the_image_command_prints(client, tmp_path):
    data = photo_page()
    answer = client.post("/api/scan", files={"file": ("page.jpg", data, "image/jpeg")})
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert [n["text"] for n in doc["numbers"]] == ["2024", "317", "86"]
    assert doc["source"] == "page.jpg" and (doc["width"], doc["height"]) == (900, 530)
    path = tmp_path / "page.jpg"
    path.write_bytes(data)
    printed = CliRunner().invoke(cli, ["image", str(path), "--json"], catch_exceptions=False)
    assert printed.exit_code == 0
    expected = json.loads(printed.output)
    assert {**doc, "source": None} == {**expected, "source": None}


def test_scan_can_return_the_annotated_photo(client):
    doc = client.post("/api/scan?annotate=true", files={"file": ("page.jpg", photo_page(("42",)), "image/jpeg")}).json()
    assert [n["text"] for n in doc["numbers"]] == ["42"]
    prefix = "data:image/jpeg;base64,"
    assert doc["annotated"].startswith(prefix)
    shown = cv2.imdecode(np.frombuffer(base64.b64decode(doc["annotated"][len(prefix):]), np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape[:2] == (doc["height"], doc["width"])
    # The boxes are drawn in colour on a gray page.
    x, y, w, h = doc["digits"][0]["box"]
    ring = shown[max(0, y - 3) : y + h + 3, max(0, x - 3) : x + w + 3].astype(int)
    assert (np.abs(ring[:, :, 0] - ring[:, :, 2]) > 80).any()


def test_a_drawn_digit_is_read_wherever_and_however_small_it_is(client):
    big = classify(client, drawing("7")).json()
    assert big["label"] == 7 and big["number"] is None and big["digits"] == []
    assert len(big["probabilities"]) == 10 and big["probabilities"][7] == big["confidence"] > 0.8
    total = sum(big["probabilities"]) + (big["not_a_digit"] or 0.0)
    assert abs(total - 1.0) < 0.02
    # Small, thin and in a corner: the MNIST crop-fit-centre makes it the same digit.
    small = classify(client, drawing("7", x=8, y=8, height=40, pen=3)).json()
    assert small["label"] == 7 and small["confidence"] > 0.8
    # Small with a broad pen: a blob the scan may cut in two, but it reads surely as one digit.
    blob = classify(client, drawing("7", x=12, y=10, height=64, pen=18)).json()
    assert (blob["label"], blob["number"]) == (7, None)
    for text in ("1", "4"):
        assert classify(client, drawing(text, x=60, y=120, height=150, pen=10)).json()["label"] == int(text)
    # Light ink on a dark canvas, and a canvas with transparency (ink on clear pixels).
    assert classify(client, drawing("4", ink=240, paper=20)).json()["label"] == 4
    rgba = np.zeros((*CANVAS, 4), np.uint8)
    rgba[..., 3] = 255 - drawing("7")
    assert classify(client, rgba).json()["label"] == 7


def test_digits_drawn_side_by_side_read_as_a_number(client):
    answer = classify(client, drawing("174", x=60, y=60, height=180, pen=16)).json()
    assert answer["number"] == "174"
    assert [d["label"] for d in answer["digits"]] == [1, 7, 4]
    boxes = [d["box"] for d in answer["digits"]]
    assert all(a[0] + a[2] <= b[0] for a, b in zip(boxes, boxes[1:]))  # left to right, in canvas pixels
    assert all(0 <= x and x + w <= CANVAS[1] for x, _, w, _ in boxes)


@pytest.mark.parametrize("canvas", [
    np.full(CANVAS, 255, np.uint8),
    np.zeros((*CANVAS, 4), np.uint8),  # a transparent canvas
    np.full(CANVAS, 250, np.uint8) - np.random.default_rng(1).integers(0, 8, CANVAS, dtype=np.uint8),
], ids=["white", "transparent", "paper-noise"])
def test_an_empty_canvas_is_nothing_drawn_not_a_guess(client, canvas):
    answer = classify(client, canvas)
    assert answer.status_code == 200
    assert answer.json() == {"label": None, "confidence": None, "probabilities": None, "not_a_digit": None,
                             "number": None, "digits": [], "message": "nothing drawn"}


def _png_declaring(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize("route", ["/api/scan", "/api/classify"])
@pytest.mark.parametrize(("data", "status", "words"), [
    (b"hello, not an image", 400, "not an image"),
    (b"", 400, "empty"),
    (png(drawing("7"))[:300], 400, "corrupt"),
    (_png_declaring(100_000, 100_000), 413, "above the limit"),
], ids=["text", "empty", "truncated", "bomb"])
def test_bad_images_get_a_json_message_and_status(client, route, data, status, words):
    answer = client.post(route, files={"file": ("upload.png", data, "image/png")})
    assert answer.status_code == status
    message = answer.json()["message"]
    assert words in message and message.startswith("upload.png: ")


def test_uploads_over_the_limit_are_refused_as_they_arrive(client):
    big = b"\xff\xd8" + bytes(400_000)
    answer = client.post("/api/scan", files={"file": ("big.jpg", big, "image/jpeg")})
    assert answer.status_code == 413 and "300,000 bytes" in answer.json()["message"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(40):
            yield bytes(10_000)

    answer = client.post("/api/scan", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 413 and "limit" in answer.json()["message"]


def test_wrong_requests_get_json_messages(client):
    wrong_field = client.post("/api/scan", files={"image": ("p.png", png(drawing("7")), "image/png")})
    assert wrong_field.status_code == 422 and "'file'" in wrong_field.json()["message"]
    as_json = client.post("/api/classify", json={"file": "data:image/png;base64,AAAA"})
    assert as_json.status_code == 422 and "message" in as_json.json()
    broken = client.post("/api/scan", content=b"--x\r\nnonsense",
                         headers={"content-type": "multipart/form-data; boundary=b"})
    assert broken.status_code == 400 and broken.json()["message"]
    assert client.get("/api/scan").status_code == 405 and client.get("/api/scan").json()["message"]
    assert client.get("/no/such/page").json() == {"message": "Not Found"}
    assert client.get("/health").status_code == 200  # and the server is still there


def test_an_unexpected_failure_is_a_json_500(scanner):
    class Broken:
        num_classes = 11

        def predict(self, batch):
            raise RuntimeError("boom")

    from digitscan import Scanner

    with TestClient(create_app(Scanner(classifier=Broken())), raise_server_exceptions=False) as c:
        answer = classify(c, drawing("7"))
        assert answer.status_code == 500
        assert answer.json() == {"message": "internal error (RuntimeError)"}
        assert c.get("/health").status_code == 200


class HeldClassifier:
    """The real classifier, held at its first call until released: a slow scan, on demand."""

    def __init__(self, inner):
        self.inner, self.num_classes = inner, inner.num_classes
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, batch):
        self.entered.set()
        assert self.release.wait(20), "never released"
        return self.inner.predict(batch)


def test_scanning_never_blocks_the_event_loop(scanner):
    from digitscan import Scanner

    held = HeldClassifier(scanner.classifier)
    with TestClient(create_app(Scanner(classifier=held))) as c:
        answers = []
        worker = threading.Thread(target=lambda: answers.append(classify(c, drawing("7"))))
        worker.start()
        assert held.entered.wait(20)
        started = time.monotonic()
        health = c.get("/health")  # answered while the scan is stuck in its worker thread
        waited = time.monotonic() - started
        held.release.set()
        worker.join(30)
    assert health.status_code == 200 and waited < 5
    assert answers and answers[0].json()["label"] == 7


def test_concurrent_requests_each_get_their_own_answer(app):
    cases = [("1", {}), ("7", {}), ("4", {}), ("7", {"x": 10, "y": 10, "height": 50, "pen": 4}),
             ("174", {"x": 40, "y": 60, "height": 160, "pen": 14})] * 3
    results: dict[int, dict] = {}
    with TestClient(app) as c:
        def ask(i: int, text: str, kw: dict) -> None:
            results[i] = classify(c, drawing(text, **kw)).json()

        threads = [threading.Thread(target=ask, args=(i, t, kw)) for i, (t, kw) in enumerate(cases)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    for i, (text, _) in enumerate(cases):
        got = results[i]["number"] if len(text) > 1 else str(results[i]["label"])
        assert got == text, (i, results[i])


def test_the_callers_scanner_is_left_as_it_was(scanner):
    before = scanner.classifier
    app = create_app(scanner)
    assert scanner.classifier is before
    assert app.state.scanner.classifier.inner is before


def test_serve_reports_a_busy_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip() == f"digitscan: error: 127.0.0.1:{port}: cannot listen (Address already in use)"


def test_serve_help_is_fast_to_import():
    import subprocess
    import sys

    code = "import sys, digitscan.cli_serve; print(sorted(m for m in ('fastapi', 'uvicorn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_serves_on_loopback_until_stopped(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "digitscan", "serve", "--port", "0", "--log-level", "warning"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        found = re.fullmatch(r"digitscan: serving on (http://127\.0\.0\.1:\d+)/ \(press Ctrl\+C to stop\)\n", line)
        assert found, line
        with urllib.request.urlopen(found.group(1) + "/health", timeout=10) as answer:
            assert json.load(answer)["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
