"""Classifier speed, side by side in one run, and start-up time of the CLI against TensorFlow's import.

    python benchmarks/classifier.py [--crops 8192] [--repeat 5]

Prints crops/s for one batched call of the default runtime (LiteRT, quantized model), for
single-crop calls, and for a Keras `model.predict` call per crop (the way most peer tools call
their model); then the start-up of `digitscan --help` against `python -c "import tensorflow"`.
Goals: >= 20,000 crops/s batched; start-up <= 0.3x TensorFlow's import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitscan.classify import load_classifier, models_dir  # noqa: E402
from training.data import load_split  # noqa: E402


def crops(n: int) -> np.ndarray:
    x, _ = load_split(ROOT / "tests" / "fixtures" / "mnist_small", "train")
    reps = int(np.ceil(n / len(x)))
    return (np.tile(x, (reps, 1, 1))[:n, :, :, None].astype(np.float32) / 255.0)


def best_rate(fn, count: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return count / min(times)


def startup(cmd: list[str], repeat: int) -> float:
    times = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--crops", type=int, default=8192)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--keras-calls", type=int, default=100)
    args = p.parse_args()

    clf = load_classifier()
    batch = crops(args.crops)
    clf.predict(batch)  # warm up: allocate for this batch size
    batched = best_rate(lambda: clf.predict(batch), len(batch), args.repeat)
    one = load_classifier(models_dir() / "digitscan_float.tflite")
    singles_n = 2000
    for b in (clf, one):
        b.predict(batch[:1])
    single = best_rate(lambda: [clf.predict(batch[i : i + 1]) for i in range(singles_n)], singles_n, args.repeat)

    import keras

    model = keras.saving.load_model(models_dir() / "digitscan.keras")
    model.predict(batch[:1], verbose=0)
    n = args.keras_calls
    keras_rate = best_rate(lambda: [model.predict(batch[i : i + 1], verbose=0) for i in range(n)], n, 2)

    cli = startup([sys.executable, "-m", "digitscan", "--help"], args.repeat)
    tf = startup([sys.executable, "-c", "import tensorflow"], args.repeat)

    print(f"{'what':<48} {'rate':>14} {'vs Keras predict':>18}")
    rows = [
        (f"LiteRT int8, one batched call of {len(batch)} crops", batched),
        ("LiteRT int8, one call per crop", single),
        ("Keras model.predict, one call per crop", keras_rate),
    ]
    for name, rate in rows:
        print(f"{name:<48} {rate:>10,.0f}/s {rate / keras_rate:>17,.1f}x")
    print(f"batched goal >= 20,000 crops/s: {'met' if batched >= 20000 else 'NOT met'}")
    print()
    print(f"start-up: digitscan --help {cli:.3f}s, import tensorflow {tf:.3f}s, ratio {cli / tf:.2f}x "
          f"(goal <= 0.3x: {'met' if cli / tf <= 0.3 else 'NOT met'})")


if __name__ == "__main__":
    main()
