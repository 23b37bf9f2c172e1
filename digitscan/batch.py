"""Scan many images into one results file: find the inputs, scan them (in parallel processes
or on Ray), and append one line per image so that a killed run loses nothing and repeats nothing.

    discover(INPUT...) -> [ImageTask] -> skip those already in the output (--resume)
    -> scan_locally() or digitscan.ray_engine.scan_with_ray() -> ResultsFile.write(record)

A record is `ScanResult.to_dict()` for an image that was read, or `{"source", "error"}` for one
that was not. Records are appended in the order images finish, each line with a single
`os.write` on a file opened with O_APPEND: a SIGKILL leaves whole lines only, and `--resume`
drops a trailing partial line (left by a full disk or a power cut) before carrying on.

>>> summary = Summary()
>>> summary.add({"source": "a.png", "digits": [{}, {}], "numbers": [{}]})
>>> summary.add({"source": "b.png", "error": "b.png: empty file (0 bytes)"})
>>> (summary.done, summary.failed, summary.digits, summary.numbers, summary.exit_code)
(1, 1, 2, 1, 5)
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import multiprocessing
import os
import re
import signal
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DigitscanError, ImageReadError, OutputError

# Files a folder is searched for; files named explicitly (a glob, a list) are taken whatever their name.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif"})
# Suffixes OpenCV can write; an annotated copy of anything else is written as .png.
WRITABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
RESULT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
CSV_COLUMNS = ("source", "numbers", "digits", "confidence", "error")
EXIT_SOME_FAILED = 5
_GLOB_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True)
class ImageTask:
    """One image to scan.

    Attributes:
        source: the path as found (relative paths stay relative); also the key for --resume.
        rel: the path below the input it was found in, where --annotate writes its copy.
    """

    source: str
    rel: str


@dataclass
class Discovery:
    """What `discover` found: the images, and the folders it could not look into."""

    tasks: list[ImageTask] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def discover(inputs: Sequence[str | os.PathLike], *, recursive: bool = False,
             exclude: Iterable[str | os.PathLike] = ()) -> Discovery:
    """Turn command-line inputs into the list of images to scan, each once, in a stable order.

    Args:
        inputs: folders (their image files; all subfolders too when `recursive`), glob patterns
            (`**` matches across folders), image files, or text files listing one path a line
            (`-` reads that list from stdin; blank lines and lines starting with `#` are skipped).
        recursive: look into subfolders. Symlinked folders are followed, each real folder once,
            so a symlink loop ends.
        exclude: folders never to look into (the --annotate folder, so a re-run does not scan
            its own output).

    Raises:
        ImageReadError: an input that does not exist, or a list that is not text.
    """
    found = Discovery()
    excluded = {_folder_key(Path(p)) for p in exclude} - {None}
    excluded_prefixes = tuple(os.path.join(os.path.realpath(p), "") for p in exclude)
    seen_sources: set[str] = set()
    prefix_roots = len(inputs) > 1

    def add(path: str, rel: str) -> None:
        if path not in seen_sources:
            seen_sources.add(path)
            found.tasks.append(ImageTask(path, rel))

    for given in inputs:
        text = os.fspath(given)
        path = Path(text)
        if text == "-":
            for line in _list_lines(sys.stdin.read()):
                add(line, _listed_rel(line))
        elif path.is_dir():
            # With several inputs, keep each input's tree apart under its own name.
            base = _safe_rel(path.resolve().name or "root") if prefix_roots else ""
            for image in _walk(path, recursive, excluded, found.problems):
                add(str(image), os.path.join(base, os.path.relpath(image, path)))
        elif path.is_file() or path.is_symlink():
            if _looks_like_image(path):
                add(text, path.name)
            else:
                for line in _list_lines(_read_list(path)):
                    add(line, _listed_rel(line))
        elif _GLOB_MAGIC.search(text):
            base = _glob_base(text)
            for match in sorted(glob.glob(text, recursive=True)):
                if os.path.isdir(match):
                    for image in _walk(Path(match), recursive, excluded, found.problems):
                        add(str(image), os.path.relpath(image, base))
                elif not os.path.realpath(match).startswith(excluded_prefixes):
                    add(match, os.path.relpath(match, base))
        else:
            raise ImageReadError(f"{text}: no such file or folder")
    return found


def _walk(root: Path, recursive: bool, excluded: set, problems: list[str]) -> Iterator[Path]:
    """The image files of a folder (and its subfolders), sorted by name, each real folder once."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        key = _folder_key(folder)
        if key is None:
            problems.append(f"{folder}: folder vanished or cannot be reached")
            continue
        if key in visited or key in excluded:
            continue
        visited.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{folder}: cannot list folder ({exc.strerror or exc})")
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):  # hidden files, macOS "._x.jpg" companions, our .part files
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:  # a symlink loop on the entry itself
                is_dir = False
            if is_dir:
                if recursive:
                    subfolders.append(Path(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                # Dangling links and special files are kept: scanning reports them, one line each.
                yield Path(entry.path)
        stack.extend(reversed(subfolders))


def _folder_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _looks_like_image(path: Path) -> bool:
    """An image by name or by its first bytes; anything else is read as a list of paths."""
    from .read import image_size

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return True  # let the scan report why it cannot be read
    return image_size(head) is not None


def _read_list(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImageReadError(f"{path}: neither an image nor a text list of paths") from None


def _list_lines(text: str) -> Iterator[str]:
    # Only the line ending is removed: names may begin or end with spaces.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield line


def _listed_rel(line: str) -> str:
    return _safe_rel(os.path.normpath(line))


def _safe_rel(path: str) -> str:
    """A path made relative and kept from climbing out of the folder it is joined to."""
    parts = [p for p in Path(path).parts if p not in ("..", ".", "/", "\\") and not p.endswith((":", ":\\"))]
    return os.path.join(*parts) if parts else "_"


def _glob_base(pattern: str) -> str:
    """The folder a glob pattern starts from: its components before the first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _GLOB_MAGIC.search(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


# --- scanning one image -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanConfig:
    """How each image is scanned; sent to every worker process or Ray actor.

    Attributes:
        model: a model file, or None for $DIGITSCAN_MODEL or the shipped model.
        min_confidence: leave out digits read with less confidence.
        max_pixels: refuse larger images (None: the library's default).
        annotate: a folder for annotated copies, mirroring the input tree; None for none.
        threads: threads for OpenCV and the model in each worker (None: their own defaults,
            which use every core). One by default: workers, not threads, use the cores: a
            640x480 page gives a thread pool too little to share (one worker on two threads
            runs ~1.1x faster for ~30% more CPU), whereas a second worker process doubles the
            rate.
    """

    model: str | None = None
    min_confidence: float = 0.2  # as Scanner's MIN_CONFIDENCE
    max_pixels: int | None = None
    annotate: str | None = None
    threads: int | None = 1


def build_scanner(config: ScanConfig):
    """The Scanner a worker uses; a .tflite model runs on `config.threads` threads."""
    from .classify import LiteRTClassifier, load_classifier, resolve_model
    from .read import DEFAULT_MAX_PIXELS
    from .scanner import Scanner

    path = resolve_model(config.model)
    if config.threads and path.suffix == ".tflite":
        classifier = LiteRTClassifier(path, threads=config.threads)
    else:
        classifier = load_classifier(path)
    return Scanner(classifier=classifier, min_confidence=config.min_confidence,
                   max_pixels=config.max_pixels or DEFAULT_MAX_PIXELS)


class BatchScanner:
    """Turns an ImageTask into its record; never raises for a bad image.

    The same object serves the in-process engine, each worker process and each Ray actor.
    """

    def __init__(self, config: ScanConfig):
        if config.threads:
            import cv2

            cv2.setNumThreads(config.threads)
        self.config = config
        self.scanner = build_scanner(config)

    def record(self, task: ImageTask, path: str | None = None) -> dict[str, Any]:
        """The record of one image; `path` is where to read it when that differs from its source
        (an absolute path on a Ray worker whose working folder is not the driver's)."""
        try:
            _check_regular_file(path or task.source, task.source)
            result = self.scanner.scan(path or task.source, source=task.source)
        except DigitscanError as exc:
            return {"source": task.source, "error": str(exc)}
        except MemoryError:
            return {"source": task.source, "error": f"{task.source}: out of memory while scanning"}
        except Exception as exc:  # a bug or a library error on a strange file must not stop the run
            return {"source": task.source, "error": f"{task.source}: {type(exc).__name__}: {_first_line(exc)}"}
        record = result.to_dict()
        if self.config.annotate is not None:
            try:
                self._annotate(task, result)
            except (OSError, ValueError) as exc:
                record["error"] = str(exc) if isinstance(exc, DigitscanError) else f"{task.source}: annotating: {exc}"
        return record

    def _annotate(self, task: ImageTask, result) -> None:
        from .outputs import same_file, write_image

        target = annotated_path(self.config.annotate, task.rel)
        if same_file(target, Path(task.source)):
            raise OutputError(f"{target}: refusing to overwrite the input image")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{target.parent}: cannot create folder ({exc.strerror or exc})") from None
        write_image(target, result.draw())


def annotated_path(folder: str | os.PathLike, rel: str) -> Path:
    """Where the annotated copy of an image goes: the same place below `folder`."""
    target = Path(folder) / rel
    if target.suffix.lower() not in WRITABLE_SUFFIXES:
        target = target.with_name(target.name + ".png")
    return target


def _check_regular_file(path: str, source: str) -> None:
    # A FIFO or a device named like an image would block the read forever.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageReadError(f"{source}: no such file") from None
    except OSError as exc:
        raise ImageReadError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"{source}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError(f"{source}: not a regular file")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


# --- the local engine ---------------------------------------------------------------------------

_worker: BatchScanner | None = None


def _start_worker(config: ScanConfig) -> None:
    global _worker
    # Ctrl-C reaches the whole process group; only the parent decides what to do about it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _worker = BatchScanner(config)


def _exit_with_parent() -> None:
    """End this worker when the parent dies (even by SIGKILL), instead of idling forever: the
    pool's queues are shared by every worker, so none of them would ever read end-of-file."""
    import threading
    from multiprocessing.connection import wait as wait_for

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        wait_for([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _scan_in_worker(tasks: list[ImageTask]) -> list[dict[str, Any]]:
    assert _worker is not None, "worker not started"
    return [_worker.record(task) for task in tasks]


# Images sent to a worker at a time: fewer round trips through the parent, which shares the
# CPUs with the workers; small enough that a killed run loses only a few lines in flight.
CHUNK = 4


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def scan_locally(tasks: Iterable[ImageTask], config: ScanConfig, workers: int = 1) -> Iterator[dict[str, Any]]:
    """Scan images in this process (one worker) or in a pool of processes, yielding records as
    images finish.

    Each worker loads the model once. If a worker process dies (a crash in a native library on
    some file), the images it may have held are retried one at a time, and one that kills a
    worker on its own is recorded as failed: the run goes on.
    """
    if workers <= 1:
        scanner = BatchScanner(config)
        for task in tasks:
            yield scanner.record(task)
        return
    yield from _scan_in_pool(iter(tasks), config, workers)


class WorkerError(DigitscanError):
    """The worker processes cannot start (so no image could be scanned)."""


def _start_pool(workers: int, context, config: ScanConfig) -> ProcessPoolExecutor:
    """A pool whose workers are known to start: a pool that cannot start would otherwise fail
    every image in turn."""
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(config,))
    try:
        pool.submit(os.getpid).result()
    except BrokenProcessPool:
        pool.shutdown(wait=False)
        raise WorkerError("the worker processes cannot start (--workers 1 scans without them)") from None
    return pool


def _scan_in_pool(tasks: Iterator[ImageTask], config: ScanConfig, workers: int) -> Iterator[dict[str, Any]]:
    methods = multiprocessing.get_all_start_methods()
    # Never fork: the parent may hold threads (LiteRT, OpenCV) whose locks a fork would copy.
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    suspects: deque[ImageTask] = deque()
    window = workers * 2  # chunks queued: enough to keep workers busy, few enough to keep memory flat
    exhausted = False
    while True:
        pool = _start_pool(workers, context, config)
        inflight: dict[Future, list[ImageTask]] = {}
        crashed: list[ImageTask] = []
        alone: ImageTask | None = None  # a suspect running by itself, so a crash is its own
        try:
            while not crashed:
                if suspects:
                    if not inflight:
                        alone = suspects.popleft()
                        inflight[pool.submit(_scan_in_worker, [alone])] = [alone]
                else:
                    alone = None
                    while not exhausted and len(inflight) < window:
                        chunk = [t for t in (next(tasks, None) for _ in range(CHUNK)) if t is not None]
                        if len(chunk) < CHUNK:
                            exhausted = True
                        if not chunk:
                            break
                        inflight[pool.submit(_scan_in_worker, chunk)] = chunk
                if not inflight:
                    return
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    chunk = inflight.pop(future)
                    error = future.exception()
                    if error is None:
                        yield from future.result()
                    elif isinstance(error, BrokenProcessPool):
                        crashed.extend(chunk)
                    else:  # records are built never to raise; a bug, but the run goes on
                        for task in chunk:
                            yield {"source": task.source, "error": f"{task.source}: {type(error).__name__}: {error}"}
            for chunk in inflight.values():
                crashed.extend(chunk)
            inflight.clear()
        finally:
            pool.shutdown(wait=not inflight and not crashed, cancel_futures=True)
        if alone is not None and crashed == [alone]:
            yield {"source": alone.source, "error": f"{alone.source}: the worker process died while scanning it"}
        else:
            suspects.extend(crashed)


# --- results file -------------------------------------------------------------------------------


def results_format(path: str | os.PathLike, extra: dict[str, str] | None = None) -> str:
    """The format for a results path, by its suffix: 'jsonl' or 'csv' (or an engine's extras)."""
    formats = {**RESULT_FORMATS, **(extra or {})}
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        names = ", ".join(sorted(formats))
        raise OutputError(f"{path}: unknown results format '{suffix or '(none)'}' (use {names})")
    return formats[suffix]


def csv_row(record: dict[str, Any]) -> list[str]:
    """A record as the CSV columns: source, numbers (space-separated), digit count, mean
    confidence, error."""
    digits = record.get("digits") or []
    mean = sum(d["confidence"] for d in digits) / len(digits) if digits else None
    return [
        record["source"],
        " ".join(n["text"] for n in record.get("numbers") or []),
        "" if "width" not in record else str(len(digits)),
        "" if mean is None else f"{mean:.4f}",
        record.get("error") or "",
    ]


class ResultsFile:
    """A .jsonl or .csv results file that is only ever appended to, one whole line per write.

    Use `ResultsFile.open(...)`, which checks that the file can be written before any work
    starts and, to resume, reads the sources it already holds.

    Attributes:
        path: the file.
        format: 'jsonl' or 'csv'.
        done: the sources already recorded in it (when resuming).
    """

    def __init__(self, path: Path, fmt: str, fd: int, done: set[str]):
        self.path, self.format, self._fd, self.done = path, fmt, fd, done

    @classmethod
    def open(cls, path: str | os.PathLike, *, resume: bool = False, force: bool = False) -> ResultsFile:
        """Open a results file for appending.

        Args:
            path: where to write; the folder is created if need be.
            resume: keep what the file holds (dropping a trailing partial line) and report its
                sources in `done`.
            force: start the file afresh even if it holds results.

        Raises:
            OutputError: the file exists (and neither flag is given), cannot be written, is in
                use by another run, or is not a digitscan results file.
        """
        path = Path(path)
        fmt = results_format(path)
        if resume and force:
            raise ValueError("resume and force exclude each other")
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name ending in .jsonl or .csv")
        _make_parent(path)
        if path.exists() and path.stat().st_size > 0 and not (resume or force):
            raise OutputError(f"{path}: already exists (use --resume to complete it, --force to overwrite it)")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        try:
            _lock(fd, path)
            if force:
                os.ftruncate(fd, 0)
            done = _read_done(fd, path, fmt)
            results = cls(path, fmt, fd, done)
            if fmt == "csv" and os.fstat(fd).st_size == 0:
                results._write(_csv_line(list(CSV_COLUMNS)))
        except BaseException:
            os.close(fd)
            raise
        return results

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one whole line."""
        if self.format == "jsonl":
            self._write((json.dumps(record) + "\n").encode("utf-8"))
        else:
            self._write(_csv_line(csv_row(record)))

    def _write(self, line: bytes) -> None:
        view = memoryview(line)
        try:
            while view:  # one write in practice; a short write (disk full) is finished or reported
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_parent(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output folder ({exc.strerror or exc})") from None


def check_writable_folder(folder: str | os.PathLike, what: str = "folder") -> None:
    """Refuse, before any work, a folder that cannot be created or written to."""
    import tempfile

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write the {what} here ({exc.strerror or exc})") from None


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise OutputError(f"{path}: in use by another digitscan run") from None
        raise


def _csv_line(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    # Undecodable bytes in file names (surrogate escapes) go back out as the same bytes.
    return buf.getvalue().encode("utf-8", "surrogateescape")


def _read_done(fd: int, path: Path, fmt: str) -> set[str]:
    """The sources a results file holds; a trailing partial line is cut off the file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return set()
    data = os.pread(fd, size, 0)
    end = data.rfind(b"\n") + 1  # everything after the last newline is a partial line
    text = data[:end].decode("utf-8", "surrogateescape")
    if fmt == "jsonl":
        done, whole = _jsonl_sources(text, path), end
    else:
        done, whole = _csv_sources(text, path)
    if whole < size:
        os.ftruncate(fd, whole)
    return done


def _jsonl_sources(text: str, path: Path) -> set[str]:
    done = set()
    for number, line in enumerate(text.split("\n")[:-1], 1):
        try:
            record = json.loads(line)
            done.add(record["source"])
        except (ValueError, KeyError, TypeError):
            raise OutputError(f"{path}: line {number} is not a digitscan result; not resuming into it") from None
    return done


def _csv_sources(text: str, path: Path) -> tuple[set[str], int]:
    """The sources of a CSV, and the byte length of its whole records (a quoted name may hold a
    newline, so the last whole record is found by parsing, not by the last newline)."""
    consumed = 0
    ends: list[int] = []

    def lines() -> Iterator[str]:
        nonlocal consumed
        for piece in text.split("\n")[:-1]:  # only \n ends a line: a name may hold \r or \u2028
            consumed += len(piece.encode("utf-8", "surrogateescape")) + 1
            yield piece + "\n"

    rows: list[list[str]] = []
    reader = csv.reader(lines(), strict=True)
    try:
        for row in reader:
            rows.append(row)
            ends.append(consumed)
    except csv.Error:
        pass  # an unfinished quoted field at the end: a partial record
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        header = ",".join(CSV_COLUMNS)
        raise OutputError(f"{path}: not a digitscan CSV (header {header} expected); not resuming into it")
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(CSV_COLUMNS):
            raise OutputError(f"{path}: record {number} has {len(row)} fields, expected {len(CSV_COLUMNS)}")
    return {row[0] for row in rows[1:]}, ends[-1]


# --- running a batch ----------------------------------------------------------------------------


@dataclass
class Summary:
    """Counts for the end of a run."""

    found: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    digits: int = 0
    numbers: int = 0
    problems: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    def add(self, record: dict[str, Any]) -> None:
        if record.get("error"):
            self.failed += 1
        else:
            self.done += 1
        self.digits += len(record.get("digits") or [])
        self.numbers += len(record.get("numbers") or [])

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def rate(self) -> float:
        return (self.done + self.failed) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed or self.problems else 0

    def line(self) -> str:
        text = (f"{self.done + self.failed} images scanned in {self.elapsed:.1f} s ({self.rate:.1f} images/s): "
                f"{self.done} done, {self.failed} failed; {self.digits} digits in {self.numbers} numbers")
        if self.skipped:
            text += f"; {self.skipped} already done, skipped"
        if self.problems:
            text += f"; {len(self.problems)} folders could not be read"
        return text


def write_records(records: Iterable[dict[str, Any]], results: ResultsFile, summary: Summary,
                  on_record: Callable[[dict[str, Any]], None] | None = None) -> Summary:
    """Append records to the results file as they come, counting them in `summary`."""
    try:
        for record in records:
            results.write(record)
            summary.add(record)
            if on_record is not None:
                on_record(record)
    finally:
        summary.finished = time.perf_counter()
    return summary


def pending_tasks(found: Discovery, results: ResultsFile, summary: Summary) -> list[ImageTask]:
    """The discovered images not yet in the results file; counts the rest as skipped."""
    summary.found = len(found.tasks)
    summary.problems = list(found.problems)
    todo = [t for t in found.tasks if t.source not in results.done]
    summary.skipped = summary.found - len(todo)
    return todo


def run_batch(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, config: ScanConfig = ScanConfig(),
              recursive: bool = False, workers: int = 1, resume: bool = False, force: bool = False,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> Summary:
    """Scan every image of `inputs` into the results file `output` with the local engine.

    With `workers` > 1 the workers are started fresh (forkserver or spawn), which imports the
    calling script again: guard a script's top level with `if __name__ == "__main__":`.

    >>> run_batch(["photos/"], "results.jsonl", workers=2).exit_code  # doctest: +SKIP
    0
    """
    exclude = [config.annotate] if config.annotate else []
    found = discover(inputs, recursive=recursive, exclude=exclude)
    if config.annotate:
        check_writable_folder(config.annotate, "annotated images")
    with ResultsFile.open(output, resume=resume, force=force) as results:
        summary = Summary()
        todo = pending_tasks(found, results, summary)
        build_scanner(config)  # a bad model is one error here, not one per image
        return write_records(scan_locally(todo, config, workers), results, summary, on_record)
