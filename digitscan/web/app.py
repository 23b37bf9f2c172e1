"""The web app: a drawing page, a photo page and a JSON API, all calling one Scanner.

    GET  /              the drawing page (static/index.html)
    GET  /scan          the photo page (static/scan.html)
    POST /api/scan      multipart field `file`: a photo -> the object `digitscan image --json` prints
    POST /api/classify  multipart field `file`: a drawing (PNG) -> the digit and its probabilities
    GET  /health        liveness, and the model in use
    GET  /docs          the OpenAPI documentation

Scanning is CPU work, so it runs in worker threads (at most `scan_threads` at once) and the event
loop keeps answering meanwhile. The classifier is shared by every Scanner in the process and a
LiteRT interpreter is not thread-safe, so its `predict` runs under a lock; decoding, masking and
segmenting still run in parallel.
"""

from __future__ import annotations

import base64
import copy
import os
import threading
import weakref
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar

import anyio
import cv2
import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..classify import NOT_A_DIGIT, Classifier
from ..errors import ImageReadError, ImageTooLargeError
from ..normalize import to_mnist
from ..read import read_image
from ..result import Box, Digit
from ..scanner import Scanner

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a 108 MP phone JPEG is about 20 MB
DRAWING_MAX_PIXELS = 4096 * 4096
# Gray steps away from the canvas colour that count as ink: leaves out anti-aliasing haze and JPEG noise.
INK_LEVEL = 48
MIN_INK_PIXELS = 12
# A drawing is scanned for several digits at this ink height, on a margin of one ink height all
# round: the segmenter expects writing on a page, each digit well under half the page's height.
SCAN_HEIGHT = 120
SCAN_MAX_WIDTH = 2400
ANNOTATED_MAX_SIDE = 1600
# A drawing read as one digit with this probability, and at most this much wider than tall, is one
# digit even when the scan finds two in it.
SURE_DIGIT = 0.95
WIDE_DRAWING = 1.2

T = TypeVar("T")

_PREDICT_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_PREDICT_LOCKS_GUARD = threading.Lock()


class SerialClassifier:
    """A classifier whose `predict` runs one call at a time, whatever the thread.

    The lock belongs to the wrapped classifier (which `load_classifier` shares per process), so
    two apps built on the same model still take turns.
    """

    def __init__(self, inner: Classifier):
        while isinstance(inner, SerialClassifier):
            inner = inner.inner
        self.inner: Classifier = inner
        self.num_classes = inner.num_classes
        with _PREDICT_LOCKS_GUARD:
            self._lock = _PREDICT_LOCKS.setdefault(inner, threading.Lock())

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.inner.predict(batch)


class UploadLimit:
    """Refuse a request body over `max_bytes` with 413 as it arrives, before it is stored whole.

    A declared Content-Length over the limit is answered at once; a body sent without one
    (chunked) is counted as it is read, and the route's reading of it fails with 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"message": self.message}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)

    @property
    def message(self) -> str:
        return f"upload too large: the limit is {self.max_bytes:,} bytes"


# What the two upload endpoints answer when the upload is wrong (for the /docs page).
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "not an image, or corrupt"},
    413: {"description": "too large"},
    422: {"description": "no `file` field"},
}


def drawing_ink(gray: np.ndarray) -> np.ndarray:
    """The ink of a drawing, bright on black: dark strokes on a light canvas, or light on dark.

    >>> canvas = np.full((40, 40), 255, np.uint8); canvas[5:35, 18:22] = 0
    >>> ink = drawing_ink(canvas)
    >>> int(ink[20, 20]), int(ink[2, 2])
    (255, 0)
    """
    background = np.uint8(np.median(gray))
    ink = cv2.absdiff(gray, np.full_like(gray, background))
    ink[ink < INK_LEVEL] = 0
    return ink


def classify_drawing(scanner: Scanner, data: bytes, source: str = "drawing") -> dict[str, Any]:
    """Read a drawing: as one digit (fitted and centred the MNIST way), and as a number.

    Returns:
        `label` (the likeliest digit, None when nothing is drawn), `confidence`, `probabilities`
        (digits 0-9), `not_a_digit` (None for a 10-class model), `number` (the reading when the
        drawing holds several digits side by side, else None), `digits` (those digits) and,
        when nothing is drawn, `message`.
    """
    page = read_image(data, source=source, max_pixels=min(scanner.max_pixels, DRAWING_MAX_PIXELS))
    ink = drawing_ink(page.gray)
    if np.count_nonzero(ink) < MIN_INK_PIXELS:
        return {"label": None, "confidence": None, "probabilities": None, "not_a_digit": None,
                "number": None, "digits": [], "message": "nothing drawn"}
    probs = scanner.classifier.predict(to_mnist(ink)[None, :, :, None])[0]
    digit_probs = probs[:10]
    label = int(digit_probs.argmax())
    not_a_digit = float(probs[NOT_A_DIGIT]) if len(probs) > NOT_A_DIGIT else 0.0
    digits, number = _read_number(scanner, ink)
    # The scan may cut one broad digit in two (its touching-digits split); a drawing that reads
    # surely as one digit and is no wider than a digit is one, whatever the scan says.
    ys, xs = np.nonzero(ink)
    wide = np.ptp(xs) + 1 > WIDE_DRAWING * (np.ptp(ys) + 1)
    one_digit = digit_probs[label] >= SURE_DIGIT and digit_probs[label] > not_a_digit and not wide
    several = len(digits) >= 2 and _side_by_side(digits) and not one_digit
    return {
        "label": label,
        "confidence": round(float(digit_probs[label]), 4),
        "probabilities": [round(float(p), 4) for p in digit_probs],
        "not_a_digit": round(not_a_digit, 4) if len(probs) > NOT_A_DIGIT else None,
        "number": number if several else None,
        "digits": [d.to_dict() for d in digits] if several else [],
    }


def _read_number(scanner: Scanner, ink: np.ndarray) -> tuple[list[Digit], str]:
    """Scan the drawing's ink as a page: the digits (boxed in drawing pixels) and their reading."""
    ys, xs = np.nonzero(ink)
    top, left = int(ys.min()), int(xs.min())
    crop = ink[top : ys.max() + 1, left : xs.max() + 1]
    h, w = crop.shape
    scale = min(SCAN_HEIGHT / h, SCAN_MAX_WIDTH / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    margin = crop.shape[0]
    page = cv2.copyMakeBorder(255 - crop, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    result = scanner.scan(page, source="drawing")
    found = []
    for digit in result.digits:
        x, y, bw, bh = digit.box
        box = Box(left + int((x - margin) / scale), top + int((y - margin) / scale),
                  max(1, round(bw / scale)), max(1, round(bh / scale)))
        found.append(Digit(digit.label, digit.confidence, box))
    return found, " ".join(result.texts)


def _side_by_side(digits: list[Digit]) -> bool:
    """True when no two digits share much of their width: a broken stroke is not a second digit."""
    boxes = sorted((d.box for d in digits), key=lambda b: b.x)
    for a, b in zip(boxes, boxes[1:]):
        if min(a.x2, b.x2) - max(a.x, b.x) > 0.4 * min(a.w, b.w):
            return False
    return True


def scan_photo(scanner: Scanner, data: bytes, source: str, annotate: bool) -> dict[str, Any]:
    """Scan a photo: `result.to_dict()`, plus the annotated image as a JPEG data URL if asked."""
    result = scanner.scan(data, source=source)
    answer = result.to_dict()
    if annotate:
        answer["annotated"] = _jpeg_data_url(result.draw())
    return answer


def _jpeg_data_url(bgr: np.ndarray) -> str:
    side = max(bgr.shape[:2])
    if side > ANNOTATED_MAX_SIDE:
        f = ANNOTATED_MAX_SIDE / side
        bgr = cv2.resize(bgr, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:  # pragma: no cover - encoding a valid BGR array does not fail
        raise RuntimeError("cannot encode the annotated image")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _upload_name(file: UploadFile, default: str) -> str:
    """The uploaded file's base name (never a client's path), for results and messages."""
    name = Path((file.filename or "").replace("\\", "/")).name
    return name[:200] or default


def create_app(
    scanner: Scanner | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    scan_threads: int | None = None,
) -> FastAPI:
    """Build the web app around a Scanner.

    Args:
        scanner: the Scanner to use (default: `Scanner()`, the shipped or $DIGITSCAN_MODEL model).
            It is not changed: the app works on a copy whose classifier takes turns between threads.
        max_upload_bytes: larger request bodies are refused with 413 while they arrive.
        scan_threads: how many scans may run at once (default: the number of CPUs, at least 2).

    Raises:
        ModelError: no usable model (when no scanner is given).

    >>> import uvicorn  # doctest: +SKIP
    >>> uvicorn.run(create_app(max_upload_bytes=10_000_000), host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    base = scanner if scanner is not None else Scanner()
    # A shallow copy: the caller's Scanner keeps its own classifier object untouched.
    serial = copy.copy(base)
    classifier = SerialClassifier(base.classifier)
    serial.classifier = classifier
    threads = scan_threads or max(2, os.cpu_count() or 1)
    limiter = anyio.CapacityLimiter(threads)

    async def in_worker(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    app = FastAPI(
        title="digitscan",
        version=__version__,
        description=(
            "Find and read handwritten digits. `POST /api/scan` reads a photo, `POST /api/classify` "
            "a drawing. Errors answer with a JSON object holding a `message`."
        ),
    )
    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes)
    app.state.scanner = serial
    app.state.max_upload_bytes = max_upload_bytes

    @app.exception_handler(ImageReadError)
    async def image_error(request: Request, exc: ImageReadError) -> JSONResponse:
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        return JSONResponse({"message": str(exc)}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors())
        missing = [e for e in errors if e.get("type") == "missing" and tuple(e.get("loc", ()))[-1:] == ("file",)]
        if missing:
            message = "expected the image as a multipart/form-data upload in the field 'file'"
        else:
            message = "invalid request: " + "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors
            )
        return JSONResponse({"message": message, "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"message": f"internal error ({type(exc).__name__})"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def draw_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/scan", include_in_schema=False)
    async def scan_page() -> FileResponse:
        return FileResponse(STATIC / "scan.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", summary="Liveness and the model in use")
    async def health() -> dict[str, Any]:
        inner = classifier.inner
        model = getattr(inner, "path", None)
        return {
            "status": "ok",
            "version": __version__,
            "model": Path(model).name if model else type(inner).__name__,
            "classes": classifier.num_classes,
            "max_upload_bytes": max_upload_bytes,
        }

    @app.post(
        "/api/scan",
        summary="Read the handwritten numbers in a photo",
        responses=_UPLOAD_ERRORS,
    )
    async def api_scan(
        file: Annotated[UploadFile, File(description="The photo (JPEG, PNG, WebP, TIFF, BMP, GIF).")],
        annotate: bool = False,
    ) -> dict[str, Any]:
        """The same object as `digitscan image --json`: `source`, `width`, `height`, `digits`
        (label, confidence, box `[x, y, w, h]`) and `numbers` (text, confidence, box, digit
        indices), in reading order. With `?annotate=true`, also `annotated`: the photo with its
        digits boxed, as a JPEG data URL (at most 1600 pixels on its long side).
        """
        data = await file.read()
        return await in_worker(scan_photo, serial, data, _upload_name(file, "upload"), annotate)

    @app.post(
        "/api/classify",
        summary="Read a drawn digit (or a number drawn digit by digit)",
        responses=_UPLOAD_ERRORS,
    )
    async def api_classify(
        file: Annotated[UploadFile, File(description="The drawing as an image file, usually a PNG of the canvas.")],
    ) -> dict[str, Any]:
        """Dark ink on a light canvas (or light on dark; transparent pixels count as white).

        The drawing's ink is cropped, fitted and centred the MNIST way and classified:
        `label` is the likeliest digit, `confidence` its probability, `probabilities` those of
        digits 0-9 and `not_a_digit` that of the model's 11th class. The drawing is also scanned
        like a photo: when it holds several digits side by side (and does not read surely as one
        digit), `number` is their reading (the answer, then) and `digits` lists them (label,
        confidence, box in drawing pixels).
        A blank canvas gives `label: null` and `message: "nothing drawn"`.
        """
        data = await file.read()
        return await in_worker(classify_drawing, serial, data, _upload_name(file, "drawing"))

    return app
