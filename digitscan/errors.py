"""The errors digitscan raises. Each also subclasses the built-in a caller would expect, so
`except ValueError` still works; the CLI turns them into exit codes, the web app into HTTP statuses.
"""

from __future__ import annotations


class DigitscanError(Exception):
    """Base of every error digitscan raises on purpose."""

    exit_code = 1


class ImageReadError(DigitscanError, ValueError):
    """The input is not an image digitscan can read (missing, empty, corrupt, unsupported)."""

    exit_code = 2


class ImageTooLargeError(ImageReadError):
    """The image declares more pixels than the configured limit; refused before decoding."""


class ModelError(DigitscanError, ValueError):
    """The model file is missing, corrupt or does not fit what digitscan feeds it."""

    exit_code = 3


class OutputError(DigitscanError, OSError):
    """An output cannot be written where it was asked for."""

    exit_code = 4
