"""The web pages in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright),
against the real server on a free loopback port: draw with the mouse, a finger and a pen; upload
and drop a photo.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from playwright.sync_api import sync_playwright  # noqa: E402

from digitscan.web.app import create_app  # noqa: E402
from tests.test_web_api import CANVAS, photo_page, stroke_paths  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 15_000


class ThreadedServer:
    """uvicorn serving the app from a thread, on a socket bound before it starts."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def server(scanner):
    with ThreadedServer(create_app(scanner)) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 800}, has_touch=True)
    elsewhere: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(server.url + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:  # the pages must work with no internet: nothing may be fetched from another host
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not elsewhere, f"the page fetched from other hosts: {elsewhere}"
    assert not errors, f"JavaScript errors: {errors}"


def canvas_points(page, text: str, x: float, y: float, height: float) -> list[list[tuple[float, float]]]:
    """The strokes of `text` (canvas pixels) in page coordinates, wherever the canvas is laid out."""
    box = page.locator("#canvas").bounding_box()
    sx, sy = box["width"] / CANVAS[1], box["height"] / CANVAS[0]
    return [[(box["x"] + px * sx, box["y"] + py * sy) for px, py in path]
            for path in stroke_paths(text, x, y, height)]


def draw_with_mouse(page, text: str, x: float = 300, y: float = 40, height: float = 240) -> None:
    for path in canvas_points(page, text, x, y, height):
        page.mouse.move(*path[0])
        page.mouse.down()
        for point in path[1:]:
            page.mouse.move(*point, steps=10)
        page.mouse.up()


def draw_with_touch(page, text: str, x: float = 300, y: float = 40, height: float = 240) -> None:
    """Real touch input through the DevTools protocol (Playwright itself only taps)."""
    cdp = page.context.new_cdp_session(page)
    for path in canvas_points(page, text, x, y, height):
        start = {"x": path[0][0], "y": path[0][1]}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
        for (x0, y0), (x1, y1) in zip(path, path[1:]):
            for t in (0.25, 0.5, 0.75, 1.0):
                point = {"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def draw_with_pen(page, text: str, x: float = 300, y: float = 40, height: float = 240) -> None:
    """Pointer events of type "pen", as a stylus sends them."""
    for n, path in enumerate(canvas_points(page, text, x, y, height)):
        events = [("pointerdown", path[0])] + [("pointermove", p) for p in path[1:]] + [("pointerup", path[-1])]
        for kind, (px, py) in events:
            page.dispatch_event("#canvas", kind, {
                "pointerId": 7 + n, "pointerType": "pen", "isPrimary": True, "clientX": px, "clientY": py,
                "button": 0 if kind != "pointermove" else -1, "buttons": 0 if kind == "pointerup" else 1,
                "pressure": 0.6, "bubbles": True, "cancelable": True,
            })


def wait_for_answer(page, expected: str) -> None:
    try:
        page.wait_for_function(
            "([want]) => document.getElementById('answer').textContent === want"
            " && document.body.dataset.idle === 'true'",
            arg=[expected], timeout=WAIT_MS,
        )
    except Exception:
        raise AssertionError(f"shown {page.text_content('#answer')!r} ({page.text_content('#detail')!r}), "
                             f"expected {expected!r}") from None


def test_a_seven_drawn_with_the_mouse_is_read_with_its_bars(page, server):
    page.goto(server.url + "/")
    assert page.text_content("#answer") == "\u2013"
    draw_with_mouse(page, "7")
    wait_for_answer(page, "7")
    assert page.get_attribute("#answer", "data-state") == "digit"
    assert page.get_attribute(".bar-row.best", "data-digit") == "7"
    assert page.locator(".bar-row").count() == 11
    shown = page.text_content(".bar-row.best .pct")
    assert page.eval_on_selector(".bar-row.best .fill", "e => e.style.width") == shown
    assert int(shown.rstrip("%")) > 50
    assert page.text_content("#detail").startswith("Confidence")


def test_a_small_digit_in_a_corner_then_clear(page, server):
    page.goto(server.url + "/")
    draw_with_mouse(page, "7", x=12, y=10, height=64)
    wait_for_answer(page, "7")
    page.click("#clear")
    assert page.text_content("#answer") == "\u2013"
    assert page.text_content("#detail") == "Nothing drawn yet."
    blank = page.eval_on_selector(
        "#canvas", "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.every(v => v === 255)")
    assert blank
    draw_with_mouse(page, "1", x=500)
    wait_for_answer(page, "1")


def test_digits_drawn_side_by_side_show_the_number(page, server):
    page.goto(server.url + "/")
    draw_with_mouse(page, "174", x=60, y=60, height=180)
    wait_for_answer(page, "174")
    assert page.get_attribute("#answer", "data-state") == "number"
    assert page.locator("#digits .chip").count() == 3
    assert page.locator("#bars").is_hidden()


@pytest.mark.parametrize("draw", [draw_with_touch, draw_with_pen], ids=["touch", "pen"])
def test_touch_and_pen_draw_too(page, server, draw):
    page.goto(server.url + "/")
    draw(page, "4")
    wait_for_answer(page, "4")


def _wait_for_numbers(page) -> list[str]:
    page.wait_for_function("document.body.dataset.busy === 'false' && "
                           "!document.getElementById('result').hidden", timeout=WAIT_MS)
    return page.locator("#numbers li .text").all_inner_texts()


def test_an_uploaded_photo_shows_its_numbers_and_the_annotated_image(page, server):
    page.goto(server.url + "/scan")
    page.set_input_files("#file", files=[{"name": "page.jpg", "mimeType": "image/jpeg", "buffer": photo_page()}])
    assert _wait_for_numbers(page) == ["2024", "317", "86"]
    page.wait_for_function("document.getElementById('annotated').complete", timeout=WAIT_MS)
    assert page.eval_on_selector("#annotated", "img => img.naturalWidth") == 900
    assert "page.jpg" in page.text_content("#caption")
    assert page.locator("#error").is_hidden()


def test_a_dropped_photo_is_read(page, server):
    page.goto(server.url + "/scan")
    data = base64.b64encode(photo_page(("905",))).decode()
    transfer = page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
            return dt;
        }""", data)
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert _wait_for_numbers(page) == ["905"]


def test_a_file_that_is_not_an_image_shows_the_message(page, server):
    page.goto(server.url + "/scan")
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}])
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    assert page.text_content("#error") == "notes.txt: not an image (unrecognized file format)"
    assert page.locator("#result").is_hidden()
