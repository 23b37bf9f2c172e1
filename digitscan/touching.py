"""Split blobs that hold two or three digits written touching each other.

A blob wider than a digit usually is, that the classifier calls "not a digit" or reads with
little confidence, may be digits that touch. We try cuts at the columns where the blob is
thinnest (the vertical projection's valleys), classify every piece of every cut in one batch,
and keep the cut whose pieces the classifier is surest of, if it is surer of them than of
the blob whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .normalize import MNIST_SIZE, to_mnist
from .result import Box

Probabilities = Callable[[np.ndarray], np.ndarray]


def cut_columns(crop: np.ndarray, parts: int, max_cuts: int = 4) -> list[tuple[int, ...]]:
    """Candidate cut positions for splitting a crop into `parts` pieces, best valleys first.

    >>> crop = np.zeros((20, 30), np.uint8); crop[:, 2:12] = 255; crop[9:11, 12:17] = 255; crop[:, 17:28] = 255
    >>> cut_columns(crop, 2)[0]
    (14,)
    """
    h, w = crop.shape
    profile = (crop > 0).sum(axis=0).astype(np.float32)
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")
    options: list[tuple[int, ...]] = []
    if parts == 2:
        lo, hi = int(0.25 * w), int(0.75 * w)
        order = np.argsort(profile[lo:hi], kind="stable") + lo
        for c in order:
            if all(abs(int(c) - o[0]) > max(2, w // 12) for o in options):
                options.append((int(c),))
            if len(options) >= max_cuts:
                break
    else:
        for first in cut_columns(crop[:, : int(0.6 * w)], 2, 2):
            rest = cut_columns(crop[:, first[0] :], 2, 2)
            options.extend((first[0], first[0] + r[0]) for r in rest)
    return options


def _pieces(crop: np.ndarray, cuts: tuple[int, ...]) -> list[np.ndarray]:
    edges = (0, *cuts, crop.shape[1])
    return [crop[:, a:b] for a, b in zip(edges, edges[1:])]


def split_touching(
    mask: np.ndarray, boxes: list[Box], predict: Probabilities, digit_classes: int = 10
) -> list[tuple[list[Box], np.ndarray, float]]:
    """For each box, the best split found: (piece boxes, piece probabilities, mean confidence).

    `predict` is called once, on the pieces of every cut of every box together.
    """
    plans: list[tuple[int, tuple[int, ...], list[Box]]] = []
    crops: list[np.ndarray] = []
    for i, b in enumerate(boxes):
        crop = mask[b.y : b.y2, b.x : b.x2]
        counts = (2, 3) if b.w > 1.3 * b.h else (2,)
        for parts in counts:
            for cuts in cut_columns(crop, parts):
                pieces = _pieces(crop, cuts)
                piece_boxes = []
                for piece, x0 in zip(pieces, (0, *cuts)):
                    ys, xs = np.nonzero(piece)
                    if len(ys) == 0:
                        break
                    piece_boxes.append(Box(b.x + x0 + int(xs.min()), b.y + int(ys.min()),
                                           int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
                    crops.append(to_mnist(piece))
                else:
                    plans.append((i, cuts, piece_boxes))
                    continue
                del crops[len(crops) - len(piece_boxes) :]
    results: list[tuple[list[Box], np.ndarray, float]] = [([], np.zeros((0, 0)), 0.0) for _ in boxes]
    if not crops:
        return results
    batch = np.stack(crops)[..., None].reshape(-1, MNIST_SIZE, MNIST_SIZE, 1)
    probs = predict(batch)
    k = 0
    for i, _cuts, piece_boxes in plans:
        p = probs[k : k + len(piece_boxes)]
        k += len(piece_boxes)
        digit_conf = p[:, :digit_classes].max(axis=1)
        if (p.argmax(axis=1) >= digit_classes).any():
            continue
        score = float(np.exp(np.log(np.maximum(digit_conf, 1e-6)).mean()))
        if score > results[i][2]:
            results[i] = (piece_boxes, p, score)
    return results
