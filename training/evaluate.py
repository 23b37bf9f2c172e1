"""Accuracy of a model file on the MNIST test split: overall, per class, and the confusion matrix.

    python -m training.evaluate --model models/digitscan_int8.tflite --data ../shared/data/mnist
    python -m training.evaluate --model run/digitscan.keras --data ../shared/data/mnist --split validation

A digit answered "not a digit" counts as wrong. `--split validation` reads the digits that
training holds out of the training files (same fraction and seed as `training.train`): compare
candidate models there. The test split is read only for the final report.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitscan.classify import Classifier, load_classifier
from training.data import download, load_split, split_validation


@dataclass
class Report:
    accuracy: float
    per_class: list[float]
    confusion: np.ndarray  # rows: true digit 0-9; columns: answer 0-9, then not a digit
    predictions: np.ndarray
    split: str = "test"

    def format(self) -> str:
        lines = [f"accuracy {self.accuracy * 100:.2f}% on {int(self.confusion.sum())} MNIST {self.split} images"]
        lines.append("per class: " + "  ".join(f"{d}:{a * 100:.2f}%" for d, a in enumerate(self.per_class)))
        cols = self.confusion.shape[1]
        head = "true\\pred " + " ".join(f"{c:>5}" for c in range(10)) + ("  not-a-digit" if cols > 10 else "")
        lines.append(head)
        for d in range(10):
            row = " ".join(f"{v:>5}" for v in self.confusion[d, :10])
            extra = f"  {self.confusion[d, 10]:>11}" if cols > 10 else ""
            lines.append(f"{d:>9} {row}{extra}")
        return "\n".join(lines)


def predict_all(classifier: Classifier, images: np.ndarray, batch: int = 2048) -> np.ndarray:
    x = images[..., None].astype(np.float32) / 255.0
    return np.concatenate([classifier.predict(x[i : i + batch]) for i in range(0, len(x), batch)])


def evaluate(classifier: Classifier, images: np.ndarray, labels: np.ndarray) -> Report:
    pred = predict_all(classifier, images).argmax(axis=1)
    confusion = np.zeros((10, classifier.num_classes), np.int64)
    np.add.at(confusion, (labels.astype(np.int64), pred), 1)
    per_class = [confusion[d, d] / max(1, confusion[d].sum()) for d in range(10)]
    return Report(float((pred == labels).mean()), per_class, confusion, pred)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="a .tflite or .keras file (default: the shipped model)")
    p.add_argument("--data", type=Path, default=None, help="folder with the MNIST IDX files (default: download)")
    p.add_argument("--split", choices=("test", "validation"), default="test",
                   help="the test split, or the validation digits held out of the training files")
    p.add_argument("--val-fraction", type=float, default=0.1, help="as given to training.train")
    p.add_argument("--seed", type=int, default=20261124, help="as given to training.train")
    args = p.parse_args(argv)
    data = args.data or download(Path.home() / ".cache" / "digitscan" / "mnist")
    if args.split == "validation":
        _, (images, labels) = split_validation(*load_split(data, "train"), args.val_fraction, args.seed)
    else:
        images, labels = load_split(data, "test")
    report = evaluate(load_classifier(args.model), images, labels)
    report.split = args.split
    print(f"model {args.model or 'shipped default'}")
    print(report.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
