"""Batch throughput with 1 and 2 worker processes, and resident memory over a long run.

    python benchmarks/batch.py                       # 3 rounds of 400 images, then 5,000 for memory
    python benchmarks/batch.py --images 200 --rounds 2 --memory-images 1000

Makes 640x480 pages of handwritten (MNIST test) digits in a temporary folder, then:
  1. scans the same folder with --workers 1 and --workers 2 (in this process, via the library;
     one thread per worker, the default), in alternating rounds, and prints the best images/s of
     each, the CPU time per image and the ratio (goal: >= 1.8x on 2 otherwise idle cores); and,
     for reference, one worker given a thread per core;
  2. runs `digitscan batch --workers 2` over `--memory-images` images as a subprocess, sampling
     the resident memory of it and its workers, and prints the total at the start and the end
     (goal: flat, not growing with the number of images).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitscan.batch import ScanConfig, run_batch  # noqa: E402

MNIST = [ROOT.parent / "shared" / "data" / "mnist", ROOT / "tests" / "fixtures" / "mnist_small"]


def handwritten_digits() -> tuple[np.ndarray, np.ndarray]:
    from training.data import load_split

    for folder in MNIST:
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return load_split(folder, "test")
    raise SystemExit("no MNIST test files found in " + ", ".join(map(str, MNIST)))


def make_page(rng: np.random.Generator, images: np.ndarray) -> np.ndarray:
    """A 640x480 page with three to five numbers of two to five handwritten digits."""
    page = np.full((480, 640), int(rng.integers(215, 250)), np.uint8)
    for row in range(int(rng.integers(3, 6))):
        x, y, height = int(rng.integers(20, 200)), 30 + row * 90, int(rng.integers(45, 70))
        for _ in range(int(rng.integers(2, 6))):
            digit = images[int(rng.integers(len(images)))]
            big = cv2.resize(digit, (height, height), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
            if x + height >= 640:
                break
            region = page[y : y + height, x : x + height].astype(np.float32)
            page[y : y + height, x : x + height] = (region * (1 - big) + 30 * big).astype(np.uint8)
            x += int(height * 0.8)
    return page


def make_folder(folder: Path, count: int, distinct: int = 200) -> None:
    """`count` PNG files cycling through `distinct` different pages."""
    rng = np.random.default_rng(0)
    images, _ = handwritten_digits()
    pages = [cv2.imencode(".png", make_page(rng, images))[1].tobytes() for _ in range(min(distinct, count))]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"page {i:05d}.png").write_bytes(pages[i % len(pages)])


def throughput(folder: Path, workers: int, scratch: Path, threads: int = 1) -> tuple[float, float]:
    """(images/s from the first result to the last, CPU ms per image in this process and its workers)."""
    total = sum(1 for _ in folder.iterdir())
    stamps: list[float] = []
    cpu = [tree_cpu(os.getpid())]

    def on_record(record: dict) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) == total:  # the workers are still alive: read their CPU time now
            cpu.append(tree_cpu(os.getpid()))

    summary = run_batch([folder], scratch / f"w{workers}.jsonl", config=ScanConfig(threads=threads), workers=workers,
                        force=True, on_record=on_record)
    assert summary.failed == 0, f"{summary.failed} images failed"
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), 1000 * (cpu[-1] - cpu[0]) / total


def _process_tree(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc); the pool's workers descend from a
    forkserver that this process started."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants."""
    total = 0
    for member in _process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for member in _process_tree(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def memory_run(folder: Path, count: int, out: Path) -> list[tuple[int, int]]:
    """Run the CLI over the folder; sample (lines written, tree RSS) every 0.5 s."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-m", "digitscan", "batch", str(folder), "-o", str(out), "--workers", "2",
                            "--force", "-q"], env=env, stderr=subprocess.DEVNULL)
    samples = []
    while run.poll() is None:
        lines = out.read_bytes().count(b"\n") if out.exists() else 0
        rss = tree_rss(run.pid)
        if rss and run.poll() is None:
            samples.append((lines, rss))
        time.sleep(0.5)
    if run.returncode != 0:
        raise SystemExit(f"digitscan batch exited with {run.returncode}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=400, help="images for each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds of 1 and 2 workers")
    parser.add_argument("--memory-images", type=int, default=5000, help="images for the memory run (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="digitscan-bench-") as tmp:
        scratch = Path(tmp)
        folder = scratch / "pages"
        made = time.perf_counter()
        make_folder(folder, max(args.images, args.memory_images))
        print(f"made {max(args.images, args.memory_images)} pages (640x480) in {time.perf_counter() - made:.1f} s; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

        speed = scratch / "speed"
        speed.mkdir()
        for path in sorted(folder.iterdir())[: args.images]:
            os.link(path, speed / path.name)
        # Rounds alternate 1 and 2 workers, so that a change in the machine's load hits both;
        # the best round of each counts.
        # Workers run one thread each (the default); the third row, one worker on every core's
        # threads, is there for reference: what threads alone give.
        runs = {"workers=1": (1, 1), "workers=2": (2, 1), f"workers=1, {os.cpu_count()} threads": (1, os.cpu_count())}
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (workers, threads) in runs.items():
                rates[name].append(throughput(speed, workers, scratch, threads))
        for name in runs:
            best = max(rates[name])
            print(f"{name:<22} {best[0]:6.1f} images/s (rounds: "
                  f"{', '.join(f'{r:.1f}' for r, _ in rates[name])}), {best[1]:.1f} CPU ms per image")
        one, two = max(rates["workers=1"])[0], max(rates["workers=2"])[0]
        print(f"speed-up 1 -> 2 workers: {two / one:.2f}x (goal >= 1.8x; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

        if args.memory_images:
            big = scratch / "big"
            big.mkdir()
            for path in sorted(folder.iterdir())[: args.memory_images]:
                os.link(path, big / path.name)
            samples = memory_run(big, args.memory_images, scratch / "memory.jsonl")
            # "Start" once every worker has loaded the model and scanned a little.
            # "End" before the last image is written: after it the workers exit and free memory.
            warm = [s for s in samples if min(200, args.memory_images // 10) <= s[0] < args.memory_images]
            first, last = warm[0], warm[-1]
            peak = max(s[1] for s in warm)
            mib = 1 << 20
            print(f"memory (parent + workers), {args.memory_images} images with 2 workers: "
                  f"{first[1] / mib:.0f} MiB after {first[0]} images, {last[1] / mib:.0f} MiB after {last[0]}, "
                  f"peak {peak / mib:.0f} MiB; growth {(last[1] - first[1]) / mib:+.1f} MiB")


if __name__ == "__main__":
    main()
