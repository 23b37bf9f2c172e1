"""MNIST in its four standard IDX `.gz` files, and the train/validation split.

The test split is only ever read by `training.evaluate` for the final report.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# The standard copy that keras.datasets.mnist downloads, for users without the IDX files.
DOWNLOAD_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DOWNLOAD_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    try:
        raw = gzip.open(path).read()
    except OSError as exc:
        raise ValueError(f"{path}: not a readable gzip IDX file ({exc})") from None
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"{path}: not an IDX file of {ndim} dimension(s)")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


def load_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split ('train' or 'test') from a folder of IDX files: uint8 (N,28,28), labels (N,)."""
    folder = Path(folder)
    image_file, label_file = FILES[split]
    for name in (image_file, label_file):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: MNIST file not found")
    images = _read_idx(folder / image_file, 2051, 3)
    labels = _read_idx(folder / label_file, 2049, 1)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels for {split}")
    return images, labels


def download(cache: Path) -> Path:
    """Fetch the standard MNIST archive once and store it as IDX files in `cache`."""
    import urllib.request

    cache.mkdir(parents=True, exist_ok=True)
    if all((cache / f).is_file() for pair in FILES.values() for f in pair):
        return cache
    npz = cache / "mnist.npz"
    print(f"downloading MNIST from {DOWNLOAD_URL}")
    urllib.request.urlretrieve(DOWNLOAD_URL, npz)
    if hashlib.sha256(npz.read_bytes()).hexdigest() != DOWNLOAD_SHA256:
        npz.unlink()
        raise ValueError("downloaded mnist.npz does not match its known SHA-256")
    with np.load(npz) as d:
        arrays = {"train": (d["x_train"], d["y_train"]), "test": (d["x_test"], d["y_test"])}
    for split, (x, y) in arrays.items():
        write_idx(cache, split, x, y)
    npz.unlink()
    return cache


def write_idx(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images and labels as a pair of IDX `.gz` files (used for test fixtures too)."""
    folder.mkdir(parents=True, exist_ok=True)
    image_file, label_file = FILES[split]
    n = len(images)
    head = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
    label_head = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
    (folder / image_file).write_bytes(gzip.compress(head + images.astype(np.uint8).tobytes(), mtime=0))
    (folder / label_file).write_bytes(gzip.compress(label_head + labels.astype(np.uint8).tobytes(), mtime=0))


def split_validation(
    images: np.ndarray, labels: np.ndarray, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hold out a stratified `fraction` of the training files for validation."""
    rng = np.random.default_rng(seed)
    val_idx = []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        rng.shuffle(idx)
        val_idx.append(idx[: int(round(len(idx) * fraction))])
    val = np.sort(np.concatenate(val_idx))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return (images[train], labels[train]), (images[val], labels[val])
