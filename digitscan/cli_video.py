"""The `digitscan webcam` and `digitscan video` commands. Image logic lives in digitscan.video.

Kept light at import time (click only): `digitscan --help` imports this module.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from .cli import build_scanner, confidence_option, fail, model_option

INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


def _interruptible(command: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C before the frame loop starts (loading the model, opening a camera) ends quietly too."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("digitscan: interrupted", err=True)
            sys.exit(INTERRUPTED)

    return run


def _warn(message: str) -> None:
    click.echo(f"digitscan: warning: {message}", err=True)


work_size_option = click.option(
    "--work-size", type=click.IntRange(64), default=640, show_default=True,
    help="Scan frames whose long side is at least twice this at half size (faster; small writing "
         "is read again at full size).",
)


def _quiet_ffmpeg() -> None:
    """FFmpeg prints its own complaints ("moov atom not found") to stderr; we print one clear line
    instead. Set OPENCV_FFMPEG_LOGLEVEL yourself to see them."""
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when FFmpeg is first used


def _window_available() -> str | None:
    """Why no window can be opened here, or None when one can."""
    import os

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        return "no display to open a window on (use --no-window, or set DISPLAY)"
    return None


@click.command()
@click.option("--camera", default="0", show_default=True, metavar="INDEX|FILE|URL",
              help="Camera index; a video file or stream URL is played as if it were a camera.")
@click.option("--width", type=click.IntRange(16), default=None, help="Ask the camera for this frame width.")
@click.option("--height", type=click.IntRange(16), default=None, help="Ask the camera for this frame height.")
@click.option("--no-window", is_flag=True,
              help="Run headless: print the readings whenever they change (for servers and scripts).")
@click.option("--json", "as_json", is_flag=True, help="With --no-window, print each change as a JSON line.")
@click.option("--frames", "max_frames", type=click.IntRange(1), default=None,
              help="Stop after scanning this many frames.")
@click.option("--snapshots", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Folder for the snapshots saved with the s key.")
@click.option("--window-size", "window", type=click.IntRange(1, 60), default=5, show_default=True,
              help="How many recent readings of a digit vote on the label shown.")
@work_size_option
@confidence_option
@model_option
@_interruptible
def webcam(camera: str, width: int | None, height: int | None, no_window: bool, as_json: bool,
           max_frames: int | None, snapshots: Path, window: int, work_size: int, min_confidence: float,
           model: Path | None) -> None:
    """Read handwritten numbers live from a camera.

    Shows the camera image with each digit boxed and labelled, each number's reading, and the
    frames per second. Keys: q or Esc quit, space pause, s save a snapshot (PNG + JSON),
    m show the ink mask beside the image.
    """
    from .errors import DigitscanError
    from .video import FrameScanner, LiveCapture, Window, run_live, stop_on_interrupt

    _quiet_ffmpeg()
    if not no_window and (why := _window_available()):
        fail(RuntimeError(why))
        sys.exit(2)
    capture = LiveCapture(camera, width=width, height=height)
    try:
        capture.start()  # first, so that a missing camera is reported before the model loads
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    try:
        scanner = build_scanner(model, min_confidence)
    except SystemExit:
        capture.stop()
        raise
    scanner.work_size = work_size

    last: list[str] | None = None

    def print_changes(reading) -> None:
        nonlocal last
        if reading.texts == last:
            return
        last = reading.texts
        if as_json:
            click.echo(json.dumps(reading.to_dict()))
        else:
            click.echo(f"{reading.frame.time:8.2f}s  {' '.join(reading.texts) or '-'}")

    reader = FrameScanner(scanner, source=capture.name, window=window)
    try:
        with stop_on_interrupt() as stop:
            summary = run_live(capture, reader, window=None if no_window else Window(),
                               on_reading=print_changes if no_window else None,
                               snapshot_dir=snapshots, max_frames=max_frames, stop=stop)
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    finally:
        capture.stop()
    for path in summary.snapshots:
        click.echo(f"saved {path}", err=True)
    for problem in summary.problems:
        _warn(problem)
    if capture.problem and not summary.quit_by_key and not summary.interrupted:
        _warn(f"{capture.name}: {capture.problem}")
    if summary.interrupted:
        sys.exit(INTERRUPTED)


def _same_path(a: Path, source: str) -> bool:
    from .outputs import same_file

    candidate = Path(source)
    return candidate.exists() and (same_file(a, candidate) or a.resolve() == candidate.resolve())


@click.command()
@click.argument("source")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the annotated video here (.mp4).")
@click.option("--jsonl", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write one JSON line per scanned frame here ('-' for standard output).")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True,
              help="Scan every N-th frame (the annotated video then has those frames only).")
@click.option("--window-size", "window", type=click.IntRange(1, 60), default=5, show_default=True,
              help="How many recent readings of a digit vote on the label shown.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
@work_size_option
@confidence_option
@model_option
@_interruptible
def video(source: str, output: Path | None, jsonl: Path | None, every: int, window: int, quiet: bool,
          work_size: int, min_confidence: float, model: Path | None) -> None:
    """Read the handwritten numbers in a video: SOURCE is a file, a stream URL or a camera index.

    Writes the annotated video (-o) and one JSON line per scanned frame (--jsonl): the frame's
    index and time, its digits and numbers as `digitscan image --json` gives them, and the
    steadied readings under "smoothed". Without either, prints the steadied numbers whenever
    they change.
    """
    from .errors import DigitscanError, ImageReadError, OutputError
    from .video import VideoReader, process_video, stop_on_interrupt

    _quiet_ffmpeg()
    to_stdout = jsonl is not None and str(jsonl) == "-"
    for target in (output, None if to_stdout else jsonl):
        if target is not None and _same_path(target, source):
            fail(OutputError(f"{target}: refusing to overwrite the input video"))
            sys.exit(OutputError.exit_code)
    if output is not None and jsonl is not None and not to_stdout and output.resolve() == jsonl.resolve():
        raise click.BadParameter("the video and the JSON lines need different files", param_hint="--jsonl")
    scanner = build_scanner(model, min_confidence)
    scanner.work_size = work_size
    try:
        reader = VideoReader(source, every=every)
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)

    last: list[str] | None = None
    bar = None

    def on_frame(reading) -> None:
        nonlocal last
        if to_stdout:
            click.echo(json.dumps(reading.to_dict()))
        elif output is None and jsonl is None and reading.texts != last:
            last = reading.texts
            click.echo(f"{reading.frame.time:8.2f}s  {' '.join(reading.texts) or '-'}")
        if bar is not None:
            bar.update(1)

    try:
        with reader, stop_on_interrupt() as stop:
            total = reader.expected_frames
            show_bar = not quiet and total is not None and not to_stdout
            with click.progressbar(length=total or 0, label=f"reading {reader.name}", file=sys.stderr,
                                   show_eta=True, show_pos=True) if show_bar else contextlib.nullcontext() as bar:
                summary = process_video(reader, scanner, output=output,
                                        log=None if to_stdout else jsonl, on_frame=on_frame, stop=stop)
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    if reader.problem:
        message = f"{reader.name}: {reader.problem}"
        if summary.frames == 0:
            fail(ImageReadError(message))
            sys.exit(2)
        _warn(f"{message}; kept the {summary.frames} frames read")
    elif summary.frames == 0 and not summary.interrupted:
        fail(ImageReadError(f"{reader.name}: no frame could be read"))
        sys.exit(2)
    if summary.interrupted:
        _warn(f"interrupted after {summary.frames} frames; outputs hold what was read")
        sys.exit(INTERRUPTED)
    if not quiet:
        wrote = [str(p) for p in (output if summary.output_frames else None,
                                  jsonl if summary.log_lines else None) if p is not None]
        click.echo(f"read {summary.frames} frames" + (f"; wrote {', '.join(wrote)}" if wrote else ""), err=True)
