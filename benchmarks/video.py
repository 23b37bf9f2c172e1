"""Video speed: frames per second of the whole pipeline against decoding the same video alone.

    python -m benchmarks.video [--frames 300] [--sizes 640x480,1280x720] [--profile]

For each frame size, a clip of a page of handwritten numbers (MNIST test digits) that moves,
turns and changes light is written to a temporary MP4, then timed side by side in one run:

    decode    reading the frames alone (cv2.VideoCapture.read)
    scan@N    decode + Scanner.scan on every frame, at work size N
    jsonl     decode + scan + steadied readings + a JSON line a frame (`digitscan video --jsonl`;
              frames after one with only large writing are scanned smaller: FrameScanner(adaptive))
    +mp4      the same + drawing + encoding the annotated MP4 (`digitscan video -o --jsonl`)
    serial    +mp4 with decoding and encoding in the main thread, not their own threads

Each is timed a few times (--runs) and the fastest kept: the CPU is often shared. With
--profile, Scanner.scan is profiled with cProfile and the time summed per pipeline stage.

The clip maker (`clear_digits`, `demo_page`, `moving_clip`) is also what tests/test_video.py scans.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ("4702", "3158", "96")  # all ten digits


# 600 MNIST test digits committed with the quality benchmark: the clip is the same on every
# machine, and the tests that use it need no data set.
TEST_DIGITS = ROOT / "benchmarks" / "quality" / "mnist_test_digits.npz"


@lru_cache(maxsize=1)
def _mnist_test() -> tuple[np.ndarray, np.ndarray]:
    with np.load(TEST_DIGITS) as data:
        return data["images"], data["labels"]


def _fit(glyph: np.ndarray, height: int) -> np.ndarray:
    """A 28x28 MNIST digit cut to its ink and scaled to `height` pixels."""
    ys, xs = np.nonzero(glyph > 30)
    glyph = glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    width = max(1, round(glyph.shape[1] * height / glyph.shape[0]))
    return cv2.resize(glyph, (width, height), interpolation=cv2.INTER_CUBIC)


def _write_glyphs(page: np.ndarray, glyphs: list[np.ndarray], x: int, y: int, space: int, ink: int = 35) -> np.ndarray:
    """Lay glyphs (ink white on black) on a gray page left to right, in dark ink."""
    for big in glyphs:
        alpha = np.clip(big.astype(np.float32) / 255.0, 0.0, 1.0)
        h, w = big.shape
        region = page[y : y + h, x : x + w].astype(np.float32)
        page[y : y + h, x : x + w] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)
        x += w + space
    return page


def clear_digits(scanner=None, per_class: int = 1, min_confidence: float = 0.95) -> dict[int, list[np.ndarray]]:
    """Handwritten examples of each digit from the MNIST test split, ink white on black.

    With a scanner, only examples that it reads right and surely when written alone on a page,
    sharp and large, blurred and small, and in a bolder pen, are taken: clearly written digits, so that a test
    page is one any good reader gets right.
    """
    images, labels = _mnist_test()
    chosen: dict[int, list[np.ndarray]] = {}
    for digit in range(10):
        picks: list[np.ndarray] = []
        for i in np.flatnonzero(labels == digit)[:200]:
            img = images[i]
            conditions = ((80, 0.0), (60, 1.5), (72, -1))
            if scanner is not None and not all(
                _reads_alone(scanner, img, digit, height, blur, min_confidence) for height, blur in conditions
            ):
                continue
            picks.append(img)
            if len(picks) == per_class:
                break
        if not picks:
            raise RuntimeError(f"no clear example of the digit {digit} in the MNIST test split")
        chosen[digit] = picks
    return chosen


def _reads_alone(scanner, glyph: np.ndarray, digit: int, height: int, blur: float, min_confidence: float) -> bool:
    alone = _write_glyphs(np.full((height * 2, height * 3), 232, np.uint8), [_fit(glyph, height)],
                          height // 2, height // 2, 0)
    if blur > 0:
        alone = cv2.GaussianBlur(alone, (0, 0), blur)
    elif blur < 0:  # a bolder pen: strokes grown by a pixel or two
        alone = cv2.erode(alone, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    found = scanner.scan(alone).digits
    return len(found) == 1 and found[0].label == digit and found[0].confidence >= min_confidence


def demo_page(numbers: tuple[str, ...] = NUMBERS, examples: dict[int, list[np.ndarray]] | None = None,
              size: tuple[int, int] = (900, 640), digit_height: int = 80) -> np.ndarray:
    """A grayscale sheet of paper with `numbers` written on it, one a line, in dark ink."""
    examples = examples or clear_digits()
    width, height = size
    page = np.full((height, width), 232, np.uint8)
    pitch = height // (len(numbers) + 1)
    glyphs = {d: [_fit(g, digit_height) for g in options] for d, options in examples.items()}
    # Each digit is centred in a slot as wide as the widest, so that writing another digit in
    # its place moves no other.
    slot = max(g.shape[1] for options in glyphs.values() for g in options) + digit_height // 8
    for row, text in enumerate(numbers):
        x0 = (width - slot * len(text)) // 2 + 40 * (row - 1)
        y = pitch * (row + 1) - digit_height // 2
        for k, ch in enumerate(text):
            glyph = glyphs[int(ch)][k % len(glyphs[int(ch)])]
            _write_glyphs(page, [glyph], x0 + k * slot + (slot - glyph.shape[1]) // 2, y, 0)
    return page


def moving_clip(page: np.ndarray, frames: int, size: tuple[int, int] = (640, 480),
                seed: int = 0) -> Iterator[np.ndarray]:
    """BGR frames of a camera looking at `page` while it drifts, turns a few degrees and the light changes.

    The camera is close: the paper fills the whole frame (its edges stay out of view), and the
    writing stays in view. The light is an uneven gradient whose direction and strength drift,
    plus sensor noise.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    ph, pw = page.shape
    fit = 1.2 * max(width / pw, height / ph)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx /= width
    yy /= height
    for i in range(frames):
        t = i / max(1, frames - 1)
        angle = 4.0 * math.sin(2 * math.pi * t)
        scale = fit * (1.0 + 0.05 * math.sin(3 * math.pi * t))
        dx = 0.04 * width * math.sin(2 * math.pi * t * 1.5)
        dy = 0.03 * height * math.cos(2 * math.pi * t)
        m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
        m[0, 2] += width / 2 - pw / 2 + dx
        m[1, 2] += height / 2 - ph / 2 + dy
        gray = cv2.warpAffine(page, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        light = 0.75 + 0.3 * math.sin(2 * math.pi * t) * (xx - 0.5) + 0.2 * math.cos(2 * math.pi * t) * (yy - 0.5)
        light *= 0.85 + 0.15 * math.cos(4 * math.pi * t)
        frame = gray.astype(np.float32) * light + rng.normal(0, 3.0, gray.shape).astype(np.float32)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        bgr = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        bgr[:, :, 0] = cv2.add(bgr[:, :, 0], 8)  # a bluish cast, as cheap webcams give
        yield bgr


def write_clip(path: Path, frames: Iterator[np.ndarray], fps: float = 25.0) -> int:
    """Write frames to an MP4 (mp4v); returns how many were written."""
    writer = None
    n = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"{path}: this OpenCV build cannot write mp4v")
            writer.write(frame)
            n += 1
    finally:
        if writer is not None:
            writer.release()
    return n


# ---------------------------------------------------------------- timing


def _time_decode(path: Path) -> tuple[int, float, float]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    start, cpu = time.perf_counter(), time.process_time()
    while cap.read()[0]:
        n += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    cap.release()
    return n, elapsed, cpu


def _time_scan(path: Path, scanner) -> tuple[int, float, float]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    start, cpu = time.perf_counter(), time.process_time()
    for frame in frames:
        scanner.scan(frame)
    return len(frames), time.perf_counter() - start, time.process_time() - cpu


def _time_pipeline(path: Path, scanner, out_dir: Path, *, video: bool = True,
                   threads: bool = True) -> tuple[int, float, float, int]:
    """What `digitscan video` does per frame: decode, scan, steady the readings, write a JSON line,
    and (video=True) draw and encode the annotated MP4.

    Returns frames, seconds, CPU seconds (all threads), frames whose steadied reading was right."""
    import contextlib

    from digitscan.video import FrameScanner, ReadingLog, VideoReader, VideoWriter, annotate

    reader = FrameScanner(scanner, source=str(path))
    right = n = 0
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.ExitStack() as stack:
        frames = stack.enter_context(VideoReader(str(path), read_ahead=4 if threads else 0))
        log = stack.enter_context(ReadingLog(out_dir / "readings.jsonl"))
        writer = stack.enter_context(VideoWriter(out_dir / "annotated.mp4", frames.output_fps,
                                                 queue_size=4 if threads else 0)) if video else None
        for frame in frames:
            reading = reader.scan(frame)
            log.write(reading.to_dict())
            if writer is not None:
                writer.write(annotate(reading))
            right += reading.texts == list(NUMBERS)
            n += 1
    return n, time.perf_counter() - start, time.process_time() - cpu, right


def _best(runs: int, timed) -> tuple:
    """The fastest of a few runs: the machine's capability, less the noise of other processes."""
    return min((timed() for _ in range(runs)), key=lambda r: r[1] / max(r[0], 1))


# Each stage's entry point, as the Scanner calls it: (file, function).
STAGES = {
    "read": [("digitscan/read.py", "read_image")],
    "preprocess": [("digitscan/preprocess.py", "contrast_map"), ("digitscan/preprocess.py", "ink_from_contrast")],
    "segment": [("digitscan/segment.py", "clean_mask"), ("digitscan/segment.py", "sort_blobs")],
    "normalize": [("digitscan/normalize.py", "normalize_crops")],
    "classify": [("digitscan/classify.py", "predict")],
    "touching": [("digitscan/touching.py", "split_touching")],
    "group": [("digitscan/group.py", "group_numbers")],
}


def profile_scan(frames: list[np.ndarray], scanner) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Milliseconds per frame in each stage (cumulative, from cProfile), and the costliest calls.

    "classify" counts every classifier call, also those made by "touching" (which includes them).
    """
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for frame in frames:
        scanner.scan(frame)
    prof.disable()
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    per_frame = 1000.0 / len(frames)
    stages = {"scan (total)": 0.0}
    for (filename, _line, name), (_cc, _nc, _tt, cum, _callers) in raw.items():
        filename = filename.replace("\\", "/")
        if filename.endswith("digitscan/scanner.py") and name == "scan":
            stages["scan (total)"] += cum * per_frame
        for stage, entries in STAGES.items():
            if any(filename.endswith(f) and name == fn for f, fn in entries):
                stages[stage] = stages.get(stage, 0.0) + cum * per_frame
    top = sorted(((f"{Path(fn).name}:{name}" if not fn.startswith("~") else name, tt * per_frame)
                  for (fn, _line, name), (_cc, _nc, tt, _cum, _callers) in raw.items()), key=lambda kv: -kv[1])
    return stages, top[:12]


def stage_times(frames: list[np.ndarray], scanner, runs: int = 3) -> dict[str, float]:
    """Milliseconds per frame in each stage the Scanner calls, timed by wrapping those calls
    (a few wrappers a frame: far less overhead than cProfile). The fastest of `runs` runs."""
    import digitscan.scanner as chain

    names = ["read_image", "contrast_map", "ink_from_contrast", "clean_mask", "estimate_skew", "deskew", "sort_blobs", "normalize_crops",
             "split_touching", "group_numbers"]
    spent: dict[str, float] = {}

    def timed(name: str, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
        return run

    originals = {n: getattr(chain, n) for n in names if hasattr(chain, n)}
    predict = scanner.classifier.predict
    best: dict[str, float] = {}
    try:
        for n, fn in originals.items():
            setattr(chain, n, timed(n, fn))
        scanner.classifier.predict = timed("classify (predict)", predict)
        for _ in range(runs):
            spent.clear()
            start = time.perf_counter()
            for frame in frames:
                scanner.scan(frame)
            spent["scan (total)"] = time.perf_counter() - start
            spent["(the Scanner's own code)"] = 2 * spent["scan (total)"] - sum(spent.values())
            for k, v in spent.items():
                best[k] = min(best.get(k, float("inf")), 1000 * v / len(frames))
    finally:
        for n, fn in originals.items():
            setattr(chain, n, fn)
        del scanner.classifier.predict
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--runs", type=int, default=3, help="time each this many times, keep the fastest")
    parser.add_argument("--profile", action="store_true", help="also profile Scanner.scan per stage")
    args = parser.parse_args(argv)

    from digitscan import Scanner
    from digitscan.video import VIDEO_WORK_SIZE

    scanner = Scanner()
    default_work = scanner.work_size
    page = demo_page(examples=clear_digits(scanner))
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"{args.frames} frames per clip, best of {args.runs} runs; {os.cpu_count()} CPUs, "
          f"{cv2.getNumThreads()} OpenCV threads.")
    print("Frames per second (higher is better), and CPU milliseconds per frame, all threads (lower is better):")
    print("  decode     cv2.VideoCapture.read alone")
    print(f"  scan@N     Scanner.scan alone on decoded frames, work size N (the Scanner's default {default_work}, "
          f"the video commands' {VIDEO_WORK_SIZE})")
    print("  jsonl      decode + scan + steady readings + JSON line (digitscan video --jsonl; large writing "
          "scanned smaller)")
    print("  +mp4       the same + draw + encode the annotated MP4 (digitscan video -o --jsonl)")
    print("  serial     +mp4 with decoding and encoding in the main thread, not in threads of their own")
    print("When other processes share the CPU, the frames per second fall but the CPU ms stay.\n")
    print(f"{'size':>10} {'decode':>7} {f'scan@{default_work}':>9} {f'scan@{VIDEO_WORK_SIZE}':>9} {'jsonl':>7} "
          f"{'+mp4':>7} {'serial':>7} {'jsonl/dec':>10} {'+mp4/dec':>9} | {'CPU ms:':>7} {'decode':>6} "
          f"{f'scan@{VIDEO_WORK_SIZE}':>8} {'jsonl':>6} {'+mp4':>6} {'right':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for w, h in sizes:
            clip = folder / f"clip-{w}x{h}.mp4"
            write_clip(clip, moving_clip(page, args.frames, (w, h)))
            scanner.scan(next(moving_clip(page, 1, (w, h))))  # warm up the interpreter's batch sizes
            dec = _best(args.runs, lambda: _time_decode(clip))
            scanner.work_size = default_work
            full = _best(args.runs, lambda: _time_scan(clip, scanner))
            scanner.work_size = VIDEO_WORK_SIZE
            scan = _best(args.runs, lambda: _time_scan(clip, scanner))
            lines = _best(args.runs, lambda: _time_pipeline(clip, scanner, folder, video=False))
            mp4 = _best(args.runs, lambda: _time_pipeline(clip, scanner, folder))
            serial = _best(args.runs, lambda: _time_pipeline(clip, scanner, folder, threads=False))

            def fps(r: tuple) -> float:
                return r[0] / r[1]

            def cpu_ms(r: tuple) -> float:
                return 1000 * r[2] / r[0]

            print(f"{f'{w}x{h}':>10} {fps(dec):>7.0f} {fps(full):>9.1f} {fps(scan):>9.1f} {fps(lines):>7.1f} "
                  f"{fps(mp4):>7.1f} {fps(serial):>7.1f} {fps(lines) / fps(dec):>10.3f} {fps(mp4) / fps(dec):>9.3f} | "
                  f"{'':>7} {cpu_ms(dec):>6.2f} {cpu_ms(scan):>8.2f} {cpu_ms(lines):>6.2f} {cpu_ms(mp4):>6.2f} "
                  f"{f'{min(lines[3], mp4[3])}/{mp4[0]}':>8}")
        if args.profile:
            for w, h in sizes:
                frames = list(moving_clip(page, min(args.frames, 100), (w, h)))
                scanner.work_size = VIDEO_WORK_SIZE
                stages = stage_times(frames, scanner, args.runs)
                print(f"\nScanner.scan at {w}x{h}, work size {VIDEO_WORK_SIZE}: ms per frame in each call the "
                      f"Scanner makes (best of {args.runs}; classify also counts the calls split_touching makes)")
                for stage, ms in sorted(stages.items(), key=lambda kv: -kv[1]):
                    print(f"  {stage:<26} {ms:7.2f}")
                _, top = profile_scan(frames, scanner)
                print("  costliest calls under cProfile (own time, ms per frame; profiling slows Python code):")
                for name, ms in top:
                    print(f"    {name:<40} {ms:7.2f}")


if __name__ == "__main__":
    main()
