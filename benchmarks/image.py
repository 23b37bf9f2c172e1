"""Whole-scan time against decoding alone, side by side in one run, and peak memory.

    python benchmarks/image.py [--repeat 7]

For a 1600x1200 and a 4032x3024 JPEG page of handwritten numbers: the median time of
`cv2.imread` alone and of `Scanner().scan(path)` (decode included), and their ratio (goal: at
most 2x). Then the peak resident memory of a fresh process that scans the 12-megapixel photo
(goal: under 300 MB).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitscan import Scanner  # noqa: E402
from training.data import load_split  # noqa: E402


def make_page(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photographed page: warm paper, a soft shadow, rows of handwritten numbers in blue ink."""
    rng = np.random.default_rng(seed)
    x, _ = load_split(ROOT / "tests" / "fixtures" / "mnist_small", "test")
    page = np.empty((height, width, 3), np.float32)
    page[:] = (205, 222, 232)
    page *= np.linspace(1.0, 0.7, width, dtype=np.float32)[None, :, None]
    page += rng.normal(0, 3, page.shape).astype(np.float32)
    digit_h = height // 20
    for row in range(6):
        y = int(height * (0.08 + row * 0.15))
        cx = int(width * 0.06)
        while cx < width * 0.75:
            for _ in range(rng.integers(2, 6)):
                d = x[rng.integers(len(x))]
                big = cv2.resize(d, (digit_h, digit_h), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
                alpha = np.clip(big, 0, 1)[:, :, None]
                region = page[y : y + digit_h, cx : cx + digit_h]
                region[:] = region * (1 - alpha) + np.array([120, 40, 30], np.float32) * alpha
                cx += int(digit_h * 0.8)
            cx += int(digit_h * 3)
    return np.clip(page, 0, 255).astype(np.uint8)


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


PEAK = """
import sys
from digitscan import Scanner
def hwm():  # peak resident memory of this process, in MB (VmHWM is reset by exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
s = Scanner()
before = hwm()
r = s.scan(sys.argv[1])
print(before, hwm(), len(r.digits))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    scanner = Scanner()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'image':<12} {'imread':>10} {'scan':>10} {'ratio':>7} {'digits':>7}")
        big_path = None
        for w, h in ((1600, 1200), (4032, 3024)):
            path = Path(tmp) / f"page_{w}x{h}.jpg"
            cv2.imwrite(str(path), make_page(w, h), [cv2.IMWRITE_JPEG_QUALITY, 90])
            decode = median_time(lambda: cv2.imread(str(path)), args.repeat)
            scan = median_time(lambda: scanner.scan(path), args.repeat)
            found = len(scanner.scan(path).digits)
            print(f"{w}x{h:<7} {decode * 1000:>8.1f}ms {scan * 1000:>8.1f}ms {scan / decode:>6.2f}x {found:>7}")
            big_path = path
        out = subprocess.run([sys.executable, "-c", PEAK, str(big_path)], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split()
        before, after = int(out[0]), int(out[1])
        print(f"peak RSS scanning the 12 MP photo: {after} MB (process with model loaded: {before} MB); "
              f"goal < 300 MB: {'met' if after < 300 else 'NOT met'}")
        print("goal: scan <= 2x imread")


if __name__ == "__main__":
    main()
