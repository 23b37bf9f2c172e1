"""Classify a batch of normalized crops in one call.

The default runtime is LiteRT (`ai-edge-litert`), which starts in a fraction of a second; the
Keras backend reads `.keras` files and needs TensorFlow (or another Keras backend) installed.
Both take a (N, 28, 28, 1) float32 batch, ink white on black in 0..1, and return (N, C)
probabilities: digits 0-9, then "not a digit" when the model has an 11th class.

Which model: the `model` argument, else the `DIGITSCAN_MODEL` environment variable, else the
model shipped in the package, whose SHA-256 is checked against `models/manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError

NOT_A_DIGIT = 10
MODEL_ENV = "DIGITSCAN_MODEL"
DEFAULT_MODEL = "digitscan_int8.tflite"
_MAX_BATCH = 4096


def models_dir() -> Path:
    """The folder of shipped models: inside the installed package, or `models/` of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ModelError(f"no shipped models found (looked in {here / 'models'} and {here.parent / 'models'})")


class Classifier(Protocol):
    """Anything that turns a batch of 28x28x1 crops into class probabilities."""

    num_classes: int

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class LiteRTClassifier:
    """A `.tflite` model run by the LiteRT interpreter, resized to each batch it is given."""

    def __init__(self, path: Path, threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - depends on the platform's wheels
            raise ModelError(f"{path}: the LiteRT runtime (ai-edge-litert) is not installed") from exc
        self.path = path
        try:
            with _native_stderr_silenced():
                self._interp = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a valid TFLite model ({_first_line(exc)})") from None
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ModelError(f"{path}: expected one input and one output, found {len(inp)} and {len(out)}")
        self._in, self._out = inp[0]["index"], out[0]["index"]
        shape, dtype = tuple(inp[0]["shape"][1:]), inp[0]["dtype"]
        if shape != (28, 28, 1) or dtype != np.float32:
            raise ModelError(f"{path}: input is {shape} {np.dtype(dtype).name}, expected (28, 28, 1) float32")
        self.num_classes = int(out[0]["shape"][-1])
        if self.num_classes not in (10, 11):
            raise ModelError(f"{path}: {self.num_classes} outputs, expected 10 digits (+ not a digit)")
        self._batch = -1

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if len(batch) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        if len(batch) > _MAX_BATCH:
            return np.concatenate([self.predict(batch[i : i + _MAX_BATCH]) for i in range(0, len(batch), _MAX_BATCH)])
        if len(batch) != self._batch:
            self._interp.resize_tensor_input(self._in, list(batch.shape))
            with _native_stderr_silenced():
                self._interp.allocate_tensors()
            self._batch = len(batch)
        self._interp.set_tensor(self._in, batch)
        self._interp.invoke()
        return self._interp.get_tensor(self._out).copy()


class KerasClassifier:
    """A `.keras` model file, for platforms without a LiteRT wheel (imports Keras lazily)."""

    def __init__(self, path: Path):
        try:
            import keras
        except ImportError as exc:
            raise ModelError(f"{path}: reading .keras models needs Keras (pip install digitscan[train])") from exc
        try:
            self._model = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for a bad file
            raise ModelError(f"{path}: not a valid Keras model ({_first_line(exc)})") from None
        self.path = path
        shape = tuple(self._model.input_shape[1:])
        if shape != (28, 28, 1):
            raise ModelError(f"{path}: input is {shape}, expected (28, 28, 1)")
        self.num_classes = int(self._model.output_shape[-1])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        return np.asarray(self._model(np.asarray(batch, np.float32), training=False))


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence what native code writes straight to file descriptor 2 (LiteRT's "INFO: Created
    TensorFlow Lite XNNPACK delegate" line, once per process): one line of ours per error."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model(model: str | Path | None = None) -> Path:
    """Find the model file: argument, then $DIGITSCAN_MODEL, then the shipped default."""
    chosen = model or os.environ.get(MODEL_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.exists():
            raise ModelError(f"{path}: model file not found")
        if not path.is_file():
            raise ModelError(f"{path}: is not a file")
        return path
    folder = models_dir()
    path = folder / DEFAULT_MODEL
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        expected = manifest["files"][DEFAULT_MODEL]["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{folder / 'manifest.json'}: unreadable model manifest ({exc})") from None
    if not path.is_file():
        raise ModelError(f"{path}: shipped model missing")
    if _sha256(path) != expected:
        raise ModelError(f"{path}: SHA-256 does not match models/manifest.json (corrupt or replaced)")
    return path


@lru_cache(maxsize=4)
def _load(path: Path, backend: str) -> Classifier:
    if backend == "keras" or (backend == "auto" and path.suffix == ".keras"):
        if path.suffix != ".keras":
            raise ModelError(f"{path}: the Keras backend reads .keras files")
        return KerasClassifier(path)
    if path.suffix == ".keras":
        raise ModelError(f"{path}: the LiteRT backend reads .tflite files")
    return LiteRTClassifier(path)


def load_classifier(model: str | Path | None = None, backend: str = "auto") -> Classifier:
    """Load (once per process) the classifier for a model file.

    Args:
        model: a `.tflite` or `.keras` file; None for $DIGITSCAN_MODEL or the shipped model.
        backend: "auto" (by file type), "litert" or "keras".
    """
    if backend not in ("auto", "litert", "keras"):
        raise ValueError(f"unknown backend {backend!r}: use auto, litert or keras")
    return _load(resolve_model(model).resolve(), backend)
