"""Read digits in video: frame sources, the frame loop, the live window, and safe video output.

Two kinds of frame source:

* :class:`VideoReader` gives every frame (or every n-th) of a file or stream in order, for
  `digitscan video`, where nothing may be skipped.
* :class:`LiveCapture` reads a camera in its own thread and keeps only the newest frame, so that
  a slow scan never stalls the camera and the screen always shows what is in front of it now.

:class:`FrameScanner` scans a frame with a :class:`~digitscan.Scanner` and steadies the readings
with :class:`~digitscan.tracking.ReadingSmoother`. :func:`process_video` writes the annotated
video and one JSON line per frame; :func:`run_live` drives the webcam window (or runs headless).

Outputs survive an interruption: the video is written under a temporary name and renamed once
finalized (what was processed is kept), and each JSON line is written whole and flushed.

>>> from digitscan import Scanner
>>> with VideoReader("clip.mp4") as frames:  # doctest: +SKIP
...     summary = process_video(frames, Scanner(), output="annotated.mp4", log="readings.jsonl")
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .errors import ImageReadError, OutputError
from .outputs import atomic_write_bytes, ordinary_mode, write_image
from .render import draw
from .result import ScanResult
from .scanner import Scanner
from .tracking import ReadingSmoother, SmoothedReading

DEFAULT_FPS = 25.0
# Frames whose long side is at least twice this are scanned at half size (the Scanner goes back
# to full size where the writing is too small there): 720p frames scan about 3x faster.
VIDEO_WORK_SIZE = 640
VIDEO_FOURCC = "mp4v"  # the MPEG-4 codec every opencv-python build can write (no H.264 encoder here)
ESC = 27
_TIMEOUTS = (cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000)


@dataclass(frozen=True)
class Frame:
    """One frame: its position in the source, its time in seconds from the start, and the BGR image."""

    index: int
    time: float
    image: np.ndarray = field(repr=False)


def parse_source(source: str | int) -> str | int:
    """A camera index as an int ("0" -> 0); anything else (a path, a URL) as given.

    >>> parse_source("1"), parse_source("clip.mp4")
    (1, 'clip.mp4')
    """
    if isinstance(source, int):
        return source
    text = str(source).strip()
    return int(text) if text.isdigit() else text


def describe(source: str | int) -> str:
    """The source's name in messages: "camera 0", or the path or URL."""
    return f"camera {source}" if isinstance(source, int) else str(source)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while opening: we report one clear line of our own."""
    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # pragma: no cover - builds without the logging API
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


def open_capture(source: str | int, *, width: int | None = None, height: int | None = None) -> cv2.VideoCapture:
    """Open a camera index, video file or stream URL with OpenCV, or raise one clear error.

    Raises:
        ImageReadError: no such file, no camera (or a busy one), or nothing OpenCV can decode.
    """
    source = parse_source(source)
    name = describe(source)
    if isinstance(source, str) and "://" not in source:
        path = Path(source)
        if not path.exists():
            raise ImageReadError(f"{name}: no such file")
        if path.is_dir():
            raise ImageReadError(f"{name}: is a directory, not a video")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{name}: empty file (0 bytes)")
    with _quiet_opencv():
        try:
            if isinstance(source, int):
                cap = cv2.VideoCapture(source)
            else:
                cap = cv2.VideoCapture(source, cv2.CAP_ANY, list(_TIMEOUTS))
        except cv2.error as exc:
            raise ImageReadError(f"{name}: cannot open ({str(exc).strip().splitlines()[-1]})") from None
    if not cap.isOpened():
        cap.release()
        if isinstance(source, int):
            raise ImageReadError(f"{name}: cannot open (no such camera, or another program is using it)")
        raise ImageReadError(f"{name}: cannot open as a video "
                             "(not a video, or a format this OpenCV build cannot decode)")
    if width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


def _source_fps(cap: cv2.VideoCapture) -> float | None:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else None


class VideoReader:
    """Every frame (or every `every`-th) of a video file, stream or camera, in order.

    Frames are decoded a few ahead in a thread of their own, so that decoding the next frame
    overlaps scanning this one. After iterating, `frames_read` tells how far it got and
    `problem` why it stopped early (None at a normal end): a file that ends before the length
    its header declares, a stream that drops, a frame that fails to decode. Reading stops
    there, and what was read counts.

    Args:
        source: anything `cv2.VideoCapture` opens: a path, a URL, or a camera index.
        every: give every n-th frame (the others are grabbed but not decoded to images).
        read_ahead: how many decoded frames may wait; 0 decodes in the caller's thread.
    """

    def __init__(self, source: str | int, *, every: int = 1, width: int | None = None, height: int | None = None,
                 read_ahead: int = 4):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.source = parse_source(source)
        self.name = describe(self.source)
        self.every = every
        self.read_ahead = read_ahead
        self._cap = open_capture(self.source, width=width, height=height)
        self.fps = _source_fps(self._cap)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 and not isinstance(self.source, int) else None
        self.frames_read = 0
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def output_fps(self) -> float:
        """The frame rate of a video made of the frames given."""
        return (self.fps or DEFAULT_FPS) / self.every

    @property
    def expected_frames(self) -> int | None:
        """How many frames iterating will give, when the source declares its length."""
        if self.frame_count is None:
            return None
        return (self.frame_count + self.every - 1) // self.every

    def _frames(self) -> Iterator[Frame]:
        """Decode frames from the capture, in the calling thread."""
        index = 0
        start = time.monotonic()
        live = isinstance(self.source, int)
        while not self._stop.is_set():
            try:
                if index % self.every:
                    ok, image = self._cap.grab(), None
                else:
                    ok, image = self._cap.read()
            except cv2.error as exc:
                self.problem = f"cannot decode frame {index} ({str(exc).strip().splitlines()[-1]})"
                return
            if not ok:
                if self.frame_count is not None and index < self.frame_count - 1:
                    self.problem = f"ended after {index} of the {self.frame_count} frames it declares"
                elif live:
                    self.problem = f"stopped giving frames after {index}"
                elif self.frame_count is None and index and "://" in str(self.source):
                    self.problem = f"stream stopped after {index} frames"
                return
            self.frames_read = index + 1
            if image is not None:
                pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                if live:
                    stamp = time.monotonic() - start
                elif pos and pos > 0:
                    stamp = pos / 1000.0
                else:
                    stamp = index / (self.fps or DEFAULT_FPS)
                yield Frame(index, stamp, image)
            index += 1

    def __iter__(self) -> Iterator[Frame]:
        if self.read_ahead <= 0:
            yield from self._frames()
            return
        ready: queue.Queue[Frame | BaseException | None] = queue.Queue(maxsize=self.read_ahead)

        def offer(item: Frame | BaseException | None) -> bool:
            # Waits for room, unless the consumer has gone (stopped early): then gives up.
            while not self._stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def decode() -> None:
            try:
                for frame in self._frames():
                    if not offer(frame):
                        return
            except BaseException as exc:  # handed to the consumer, raised there
                offer(exc)
            finally:
                offer(None)

        self._thread = threading.Thread(target=decode, name="digitscan-decode", daemon=True)
        self._thread.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            self._thread.join(timeout=10.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():
                return  # stuck in a read from a dead stream: releasing under it could crash OpenCV
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameSource(Protocol):
    """What the live loop reads: the newest frame after a given one, or None (see `LiveCapture`)."""

    ended: bool
    problem: str | None

    def read(self, newer_than: int = -1, timeout: float | None = 1.0) -> Frame | None: ...


class LiveCapture:
    """Reads a camera (or any source) in its own thread, keeping only the newest frame.

    >>> with LiveCapture(0) as camera:  # doctest: +SKIP
    ...     frame = camera.read()

    A video file is played at its own frame rate, as if it were a camera, so that the live
    loop can be tried and tested without one.

    Args:
        source: a camera index, or a path or URL.
        width, height: the capture size to ask the camera for (it may pick another).
        first_frame_timeout: seconds to wait for a first frame; a camera that opens but gives
            none (another program holds it) is reported after this.
        stall_timeout: a camera that gives no frame for this long has stopped.
    """

    def __init__(self, source: str | int = 0, *, width: int | None = None, height: int | None = None,
                 first_frame_timeout: float = 5.0, stall_timeout: float = 3.0):
        self.source = parse_source(source)
        self.name = describe(self.source)
        self._size = (width, height)
        self.first_frame_timeout = first_frame_timeout
        self.stall_timeout = stall_timeout
        self._cap: cv2.VideoCapture | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self.frames_captured = 0
        self.ended = False
        self.problem: str | None = None

    def start(self) -> LiveCapture:
        """Open the source, start the capture thread, and wait for the first frame.

        Raises:
            ImageReadError: the source does not open, or gives no frame in time.
        """
        self._cap = open_capture(self.source, width=self._size[0], height=self._size[1])
        fps = _source_fps(self._cap)
        # A file is played at its frame rate, as a camera would give it; cameras and streams
        # give frames at their own pace.
        live = isinstance(self.source, int) or "://" in str(self.source)
        pace = None if live else 1.0 / (fps or DEFAULT_FPS)
        self._thread = threading.Thread(target=self._run, args=(self._cap, pace), name="digitscan-capture", daemon=True)
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None or self.ended, timeout=self.first_frame_timeout)
            got_frame = self._latest is not None
        if not got_frame:
            self.stop()
            why = self.problem or f"no frame within {self.first_frame_timeout:g} s"
            busy = " (is another program using the camera?)" if isinstance(self.source, int) else ""
            raise ImageReadError(f"{self.name}: opened but gives no frames: {why}{busy}")
        return self

    def _run(self, cap: cv2.VideoCapture, pace: float | None) -> None:
        start = time.monotonic()
        last_ok = start
        index = 0
        try:
            while not self._stop.is_set():
                try:
                    ok, image = cap.read()
                except cv2.error as exc:
                    self.problem = f"capture failed ({str(exc).strip().splitlines()[-1]})"
                    break
                now = time.monotonic()
                if not ok:
                    if pace is not None:  # the file has ended
                        if index == 0:
                            self.problem = "no frame could be read"
                        break
                    if now - last_ok > self.stall_timeout:
                        self.problem = f"stopped giving frames after {index}" if index else "no frame could be read"
                        break
                    time.sleep(0.01)  # a camera or stream may miss a frame or two; keep trying a while
                    continue
                last_ok = now
                if pace is not None:
                    delay = start + index * pace - now
                    if delay > 0 and self._stop.wait(delay):
                        break
                stamp = index * pace if pace is not None else now - start
                with self._cond:
                    self._latest = Frame(index, stamp, image)
                    self.frames_captured = index + 1
                    self._cond.notify_all()
                index += 1
        finally:
            cap.release()  # released by the thread that reads, so never during a read
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def read(self, newer_than: int = -1, timeout: float | None = 1.0) -> Frame | None:
        """The newest frame whose index is above `newer_than`, waiting up to `timeout` seconds.

        Returns None when no such frame came in time, or the capture has ended.
        """
        with self._cond:
            self._cond.wait_for(lambda: (self._latest is not None and self._latest.index > newer_than) or self.ended,
                                timeout=timeout)
            frame = self._latest
        if frame is None or frame.index <= newer_than:
            return None
        return frame

    def stop(self) -> None:
        """Stop the capture thread and release the camera."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        elif self._thread is None and self._cap is not None:
            self._cap.release()

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- reading frames


@dataclass
class FrameReading:
    """What was read in one frame: the frame's own scan and the steadied reading.

    Attributes:
        frame: the frame scanned.
        raw: this frame's scan alone (what `digitscan image --json` gives for a photo).
        smoothed: digits followed across frames and labelled by vote; the numbers they form.
        mask: the ink mask, when asked for.
    """

    frame: Frame
    raw: ScanResult
    smoothed: SmoothedReading
    mask: np.ndarray | None = None

    @property
    def texts(self) -> list[str]:
        """The steadied numbers' readings, in reading order."""
        return self.smoothed.texts

    def to_dict(self) -> dict[str, Any]:
        """One JSON object: the frame's index and time, its own scan, and the steadied reading."""
        return {"frame": self.frame.index, "time": round(self.frame.time, 3), **self.raw.to_dict(),
                "smoothed": self.smoothed.to_dict()}


class FrameScanner:
    """Scans frames one after another and steadies their readings.

    Video-specific speed-up (`adaptive`): the writing in one frame is about as tall as in the
    frame before, so a frame whose previous one held only large digits is scanned at a half or
    a quarter of its size (the Scanner's own work size, chosen so that the smallest of those
    digits stays at least `min_working_height` pixels tall there). Every `full_look_every`-th
    frame, and any frame after one with no digit, is scanned at the Scanner's own size, so
    that smaller writing coming into view is found.

    Args:
        scanner: the Scanner to read each frame with (it is not changed).
        source: the name put in each result's `source`.
        window: how many recent readings of a digit vote on its label.
        adaptive: scan smaller when the writing is large (see above).
    """

    def __init__(self, scanner: Scanner, *, source: str = "<video>", window: int = 5, adaptive: bool = True,
                 min_working_height: int = 24, full_look_every: int = 10):
        self.scanner = scanner
        self.source = source
        self.smoother = ReadingSmoother(window=window)
        self.adaptive = adaptive
        self.min_working_height = min_working_height
        self.full_look_every = full_look_every
        self._smallest: float | None = None  # height of the smallest digits last frame, in its pixels
        self._scanned = 0
        self._by_work_size: dict[int, Scanner] = {}

    def _scanner_for(self, image: np.ndarray) -> Scanner:
        if not self.adaptive or self._smallest is None or self._scanned % self.full_look_every == 0:
            return self.scanner
        reduce = 1
        while reduce < 4 and self._smallest / (2 * reduce) >= self.min_working_height:
            reduce *= 2
        if reduce == 1:
            return self.scanner
        # The Scanner works at 1/r of a frame whose long side is at least r times its work size.
        work = min(self.scanner.work_size, max(image.shape[:2]) // reduce)
        if work == self.scanner.work_size:
            return self.scanner
        if work not in self._by_work_size:
            smaller = copy.copy(self.scanner)  # shares the loaded classifier
            smaller.work_size = work
            self._by_work_size[work] = smaller
        return self._by_work_size[work]

    def scan(self, frame: Frame, *, with_mask: bool = False) -> FrameReading:
        scanner = self.scanner if with_mask else self._scanner_for(frame.image)
        raw = scanner.scan(frame.image, source=self.source, trace=with_mask)
        self._scanned += 1
        heights = [d.box.h for d in raw.digits]
        self._smallest = float(np.percentile(heights, 10)) if heights else None
        mask = raw.trace.get("mask") if with_mask else None
        raw.trace = {}
        return FrameReading(frame, raw, self.smoother.update(raw), mask)

    def reset(self) -> None:
        self.smoother.reset()
        self._smallest = None


def annotate(reading: FrameReading, *, fps: float | None = None, show_mask: bool = False,
             status: str = "") -> np.ndarray:
    """The frame with the steadied digits and numbers drawn on it; optionally the mask beside it,
    and a status line (frames per second, "paused") in the corner."""
    image = draw(reading.frame.image, reading.smoothed.result)
    parts = [f"{fps:.1f} fps"] if fps else []
    if status:
        parts.append(status)
    if parts:
        text = "  ".join(parts)
        scale = max(0.5, image.shape[0] / 900)
        thick = max(1, int(round(scale * 2)))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        cv2.rectangle(image, (0, 0), (tw + 12, th + base + 12), (20, 20, 20), -1)
        cv2.putText(image, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (80, 255, 80), thick, cv2.LINE_AA)
    if show_mask and reading.mask is not None:
        mask = reading.mask
        if mask.shape[:2] != image.shape[:2]:
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        image = np.hstack([image, cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)])
    return image


# ---------------------------------------------------------------- outputs


class VideoWriter:
    """Writes an annotated video under a temporary name beside `path`, renamed there when closed.

    The file at `path` is therefore either absent or a finalized, playable video: an
    interruption leaves the frames written so far, closed properly, and never a half-written file.
    Frames are encoded in a thread of their own (up to `queue_size` wait), overlapping the scan
    of the next frame: do not change an image after writing it.
    """

    def __init__(self, path: str | os.PathLike, fps: float = DEFAULT_FPS, fourcc: str = VIDEO_FOURCC,
                 queue_size: int = 4):
        self.path = Path(path)
        self.fps = fps if fps and math.isfinite(fps) and fps > 0 else DEFAULT_FPS
        self.fourcc = fourcc
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self._size: tuple[int, int] | None = None
        self._queue: queue.Queue[np.ndarray | None] | None = queue.Queue(maxsize=queue_size) if queue_size > 0 else None
        self._thread: threading.Thread | None = None
        if not self.path.suffix:
            raise OutputError(f"{self.path}: give the video a file extension such as .mp4")
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a directory")
        if not self.path.parent.is_dir():
            raise OutputError(f"{self.path}: folder {self.path.parent} does not exist")

    def _open(self, width: int, height: int) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                       dir=self.path.parent)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write here ({exc.strerror or exc})") from None
        os.close(fd)
        self._tmp = Path(tmp)
        os.chmod(tmp, ordinary_mode(self.path))  # mkstemp makes it private; the video is an ordinary output
        with _quiet_opencv():
            writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*self.fourcc), self.fps, (width, height))
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
            raise OutputError(f"{self.path}: cannot write a '{self.path.suffix}' video "
                              "with this OpenCV build (use .mp4)")
        self._writer, self._size = writer, (width, height)

    def write(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self._writer is None:
            self._open(w, h)
            if self._queue is not None:
                self._thread = threading.Thread(target=self._encode, args=(self._writer, self._queue),
                                                name="digitscan-encode", daemon=True)
                self._thread.start()
        if (w, h) != self._size:
            # The mask view or a camera changing size: keep the video's size.
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        if self._queue is not None:
            self._queue.put(image)
        else:
            assert self._writer is not None
            self._writer.write(image)
        self.frames += 1

    @staticmethod
    def _encode(writer: cv2.VideoWriter, frames: queue.Queue[np.ndarray | None]) -> None:
        while (image := frames.get()) is not None:
            writer.write(image)

    def close(self) -> None:
        """Finalize the video and move it into place (nothing is left when no frame was written)."""
        writer, tmp = self._writer, self._tmp
        self._writer = self._tmp = None
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)  # every frame queued is encoded before the file is finalized
            self._thread.join()
            self._thread = None
        if writer is not None:
            writer.release()
        if tmp is None:
            return
        if self.frames == 0:
            tmp.unlink(missing_ok=True)
            return
        try:
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold back Ctrl-C for the few microseconds of a write, so that no line is cut in half."""
    block = hasattr(signal, "pthread_sigmask")
    if block:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if block:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


class ReadingLog:
    """A JSON Lines file of readings, one object a line, each line written whole and flushed.

    A log file it created and closed with no line in it is removed: no frame, no file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lines = 0
        self._created = not self.path.exists()  # only a file made here is removed when left empty
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        try:
            with _sigint_blocked():
                self._file.write(line)
                self._file.flush()
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self.lines += 1

    def close(self) -> None:
        self._file.close()
        if self.lines == 0 and self._created and self.path.is_file():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ReadingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- loops


@dataclass
class VideoSummary:
    """How a video run went."""

    frames: int = 0  # frames scanned
    interrupted: bool = False
    output_frames: int = 0  # frames in the annotated video
    log_lines: int = 0


class StopRequest:
    """Set by Ctrl-C (see :func:`stop_on_interrupt`) or by the caller; the loops check it between frames."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[StopRequest]:
    """The first Ctrl-C asks the loop to stop after the current frame; a second one interrupts at once.

    Outside the main thread (where signal handlers cannot be set) this only yields a StopRequest.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop:
            raise KeyboardInterrupt
        stop.set()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)


def process_video(
    frames: Iterator[Frame] | VideoReader,
    scanner: Scanner,
    *,
    output: str | os.PathLike | None = None,
    log: str | os.PathLike | None = None,
    fps: float | None = None,
    source: str | None = None,
    window: int = 5,
    on_frame: Callable[[FrameReading], None] | None = None,
    stop: StopRequest | None = None,
) -> VideoSummary:
    """Scan every frame given: write the annotated video and/or one JSON line per frame.

    Both outputs keep what was done if the loop is stopped or fails part way: the video is
    finalized and moved into place, the JSON Lines file ends with a whole line.

    Args:
        frames: a VideoReader, or any iterable of Frame.
        scanner: reads each frame.
        output: where to write the annotated video (.mp4), or None.
        log: where to write the JSON Lines, or None.
        fps: the annotated video's frame rate (default: the reader's, else 25).
        source: the name put in each result (default: the reader's source).
        window: how many recent readings of a digit vote on its label.
        on_frame: called with each frame's reading (progress bars, printing).
        stop: checked between frames; when set, the loop ends cleanly.
    """
    if isinstance(frames, VideoReader):
        fps = fps or frames.output_fps
        source = source or frames.name
    reader = FrameScanner(scanner, source=source or "<video>", window=window)
    summary = VideoSummary()
    with contextlib.ExitStack() as outputs:
        writer = outputs.enter_context(VideoWriter(output, fps or DEFAULT_FPS)) if output is not None else None
        lines = outputs.enter_context(ReadingLog(log)) if log is not None else None
        try:
            for frame in frames:
                reading = reader.scan(frame)
                if writer is not None:
                    writer.write(annotate(reading))
                if lines is not None:
                    lines.write(reading.to_dict())
                summary.frames += 1
                if on_frame is not None:
                    on_frame(reading)
                if stop:
                    summary.interrupted = True
                    break
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.output_frames = writer.frames if writer is not None else 0
            summary.log_lines = lines.lines if lines is not None else 0
    return summary


class FpsMeter:
    """Frames per second over the last second or so (an exponential average of frame intervals)."""

    def __init__(self, smoothing: float = 0.1):
        self.smoothing = smoothing
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            dt = max(now - self._last, 1e-6)
            if self._interval is None:
                self._interval = dt
            else:
                self._interval = (1 - self.smoothing) * self._interval + self.smoothing * dt
        self._last = now

    @property
    def fps(self) -> float | None:
        return 1.0 / self._interval if self._interval else None


class Window:
    """The on-screen window: shows images and reads keys.

    Args:
        title: the window's title.
        key_reader: reads a key with a delay in milliseconds, returning its code or -1
            (default `cv2.waitKey`); tests pass their own to press keys.
    """

    def __init__(self, title: str = "digitscan", key_reader: Callable[[int], int] | None = None):
        self.title = title
        self._key_reader = key_reader or cv2.waitKey
        self._opened = False

    def show(self, image: np.ndarray) -> None:
        if not self._opened:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
            self._opened = True
        cv2.imshow(self.title, image)

    def key(self, delay_ms: int = 1) -> int:
        code = self._key_reader(delay_ms)
        return -1 if code is None or code < 0 else code & 0xFF

    def closed(self) -> bool:
        """True once the user has closed the window with the mouse."""
        if not self._opened:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        if self._opened:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI loop process the close
            self._opened = False


@dataclass
class LiveSummary:
    """How a live session went."""

    frames: int = 0  # frames scanned
    snapshots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # snapshots that could not be saved
    quit_by_key: bool = False
    interrupted: bool = False


def save_snapshot(reading: FrameReading, image: np.ndarray, folder: Path) -> Path:
    """Write the annotated image (PNG) and its reading (JSON) side by side; returns the PNG's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"digitscan-{datetime.now():%Y%m%d-%H%M%S}-{reading.frame.index:06d}"
    png = folder / f"{stem}.png"
    write_image(png, image)
    atomic_write_bytes(folder / f"{stem}.json", (json.dumps(reading.to_dict(), indent=1) + "\n").encode())
    return png


def run_live(
    capture: FrameSource,
    reader: FrameScanner,
    *,
    window: Window | None = None,
    on_reading: Callable[[FrameReading], None] | None = None,
    snapshot_dir: str | os.PathLike = ".",
    max_frames: int | None = None,
    stop: StopRequest | None = None,
) -> LiveSummary:
    """Scan the newest frame, again and again, until the source ends or the user quits.

    With a window: each frame is shown annotated with its steadied readings and the frames per
    second. Keys: q or Esc quit, space pauses (the camera keeps running, so resuming shows
    the present), s saves a snapshot (annotated PNG + JSON), m shows the ink mask beside the image.
    Without one (headless), `on_reading` gets every reading.
    """
    summary = LiveSummary()
    meter = FpsMeter()
    folder = Path(snapshot_dir)
    last_index = -1
    paused = show_mask = False
    reading: FrameReading | None = None
    shown: np.ndarray | None = None
    try:
        while not stop:
            if not paused:
                frame = capture.read(newer_than=last_index, timeout=0.05 if window else 0.5)
                if frame is None:
                    if capture.ended:
                        break
                else:
                    last_index = frame.index
                    reading = reader.scan(frame, with_mask=show_mask)
                    meter.tick()
                    summary.frames += 1
                    if on_reading is not None:
                        on_reading(reading)
                    shown = None
            if window is not None and reading is not None:
                if shown is None:
                    shown = annotate(reading, fps=meter.fps, show_mask=show_mask, status="paused" if paused else "")
                window.show(shown)
            if window is not None:
                key = window.key(1)
                if key in (ord("q"), ord("Q"), ESC) or window.closed():
                    summary.quit_by_key = True
                    break
                if key == ord(" "):
                    paused = not paused
                    shown = None
                elif key in (ord("m"), ord("M")):
                    show_mask = not show_mask
                    if show_mask and reading is not None and reading.mask is None:
                        reading.mask = reader.scanner.scan(reading.frame.image, trace=True).trace["mask"]
                    shown = None
                elif key in (ord("s"), ord("S")) and reading is not None:
                    image = shown if shown is not None else annotate(reading, show_mask=show_mask)
                    try:
                        summary.snapshots.append(save_snapshot(reading, image, folder))
                    except (OutputError, OSError) as exc:  # a full disk must not end the session
                        summary.problems.append(str(exc))
            if max_frames is not None and summary.frames >= max_frames:
                break
        else:
            summary.interrupted = True
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if window is not None:
            window.close()
    return summary
