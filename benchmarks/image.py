"""Whole-scan time against decoding alone, side by side in one run, and peak memory.

    python benchmarks/image.py [--repeat 7]

For a 1600x1200 and a 4032x3024 JPEG page of handwritten numbers: the median time of
`cv2.imread` alone and of `Scanner().scan(path)` (decode included), timed in turns, and their
ratio (goal: at most 2x), and beside it the floor: decoding at the working size and one
classifier call on the digits found, the least any scan with this model does. Then where a
scan's time goes, stage by stage, and the peak resident memory of a fresh process that scans
the 12-megapixel photo (goal: under 300 MB).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import digitscan.scanner as chain  # noqa: E402
from digitscan import Scanner  # noqa: E402
from digitscan.read import read_image  # noqa: E402
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


GOAL_RATIO = 2.0
GOAL_PEAK_MB = 300

# What the Scanner calls, by stage; a stage's time excludes that of the stages it calls in turn
# (the classifier's calls made while splitting touching digits count as "classify", the
# normalizing of their pieces as "touching").
STAGES = {
    "read": ["read_image"],
    "ink mask": ["contrast_map", "ink_from_contrast"],
    "segment": ["find_blobs", "typical_height", "estimate_skew", "deskew", "clean_mask", "sort_blobs"],
    "normalize": ["normalize_crops"],
    "classify": [],  # the classifier's predict, wrapped on the Scanner's classifier
    "touching": ["split_touching"],
    "group": ["group_numbers"],
}


def side_by_side(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, called in turns so that they share the machine's moods."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


class StageClock:
    """Times the Scanner's stages by wrapping what it calls; each stage's own time only."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._nested: list[float] = []

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def run(*args, **kwargs):
            start = time.perf_counter()
            self._nested.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.spent[stage] += elapsed - self._nested.pop()
                if self._nested:
                    self._nested[-1] += elapsed
        return run


def stage_times(scanner: Scanner, path: Path, repeat: int) -> dict[str, float]:
    """Median milliseconds per scan of `path` in each stage, and in the Scanner's own code."""
    clock = StageClock()
    originals = {name: getattr(chain, name) for names in STAGES.values() for name in names if hasattr(chain, name)}
    predict = scanner.classifier.predict
    runs: list[dict[str, float]] = []
    try:
        for stage, names in STAGES.items():
            for name in names:
                if name in originals:
                    setattr(chain, name, clock.wrap(stage, originals[name]))
        setattr(scanner.classifier, "predict", clock.wrap("classify", predict))
        for _ in range(repeat + 1):
            clock.spent.clear()
            start = time.perf_counter()
            scanner.scan(path)
            total = time.perf_counter() - start
            runs.append({**clock.spent, "the Scanner's own code": total - sum(clock.spent.values()), "total": total})
    finally:
        for name, fn in originals.items():
            setattr(chain, name, fn)
        setattr(scanner.classifier, "predict", predict)
    rows = [*STAGES, "the Scanner's own code", "total"]
    return {k: 1000 * statistics.median(r.get(k, 0.0) for r in runs[1:]) for k in rows}


def floor(scanner: Scanner, path: Path, crops: np.ndarray) -> None:
    """The least a scan can do: decode as the Scanner does, and classify the digits it found."""
    read_image(path, max_pixels=scanner.max_pixels, work_size=scanner.work_size)
    scanner.classifier.predict(crops)


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
    sizes = ((1600, 1200), (4032, 3024))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'image':<12} {'imread':>10} {'scan':>10} {'ratio':>7} {'digits':>7}  goal <= {GOAL_RATIO:g}x"
              f"   {'floor':>6}")
        paths, verdicts = [], []
        for w, h in sizes:
            path = Path(tmp) / f"page_{w}x{h}.jpg"
            cv2.imwrite(str(path), make_page(w, h), [cv2.IMWRITE_JPEG_QUALITY, 90])
            crops = scanner.scan(path, trace=True).trace["crops"]
            t = side_by_side({"imread": lambda: cv2.imread(str(path)), "scan": lambda: scanner.scan(path),
                              "floor": lambda: floor(scanner, path, crops)}, args.repeat)
            ratio = t["scan"] / t["imread"]
            met = ratio <= GOAL_RATIO
            verdicts.append(f"{w}x{h} {'met' if met else 'NOT met'} ({ratio:.2f}x)")
            print(f"{w}x{h:<7} {t['imread'] * 1000:>8.1f}ms {t['scan'] * 1000:>8.1f}ms {ratio:>6.2f}x {len(crops):>7}"
                  f"  {'met' if met else 'NOT met':<11} {t['floor'] / t['imread']:>5.2f}x")
            paths.append(path)
        print("floor: decoding at the working size and one classifier call on the digits found, and"
              " nothing else: what any scan with this model spends, before finding a single blob")
        print()
        stages = [stage_times(scanner, path, args.repeat) for path in paths]
        print(f"{'ms per scan, by stage':<24}" + "".join(f"{f'{w}x{h}':>12}" for w, h in sizes))
        for name in stages[0]:
            print(f"{name:<24}" + "".join(f"{st[name]:>12.1f}" for st in stages))
        print()
        out = subprocess.run([sys.executable, "-c", PEAK, str(paths[-1])], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split()
        before, after = int(out[0]), int(out[1])
        print(f"peak RSS scanning the 12 MP photo: {after} MB (process with model loaded: {before} MB); "
              f"goal < {GOAL_PEAK_MB} MB: {'met' if after < GOAL_PEAK_MB else 'NOT met'}")
        print(f"goal: scan <= {GOAL_RATIO:g}x imread: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
