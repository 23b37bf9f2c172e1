"""Writing outputs safely: never over an input, never half-written (write aside, then rename)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .errors import OutputError


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux): setting
    it to learn it, as `os.umask` must, would give a file another thread creates meanwhile (a
    batch writes from several) the wrong permissions."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def ordinary_mode(path: Path) -> int:
    """The permissions an output at `path` should get: those of the file it replaces, else what
    `open()` gives a new file (0o666 less the umask). A file written aside by `mkstemp` is
    private (0o600) until given them."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never half."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), ordinary_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the file's extension (.png, .jpg, ...) and write atomically."""
    ext = Path(path).suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(ext, image)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"{path}: cannot write an image of type '{ext}' (use .png or .jpg)")
    atomic_write_bytes(Path(path), buf.tobytes())


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
