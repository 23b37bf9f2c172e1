"""digitscan: find and read handwritten digits in photos, video frames and folders of images.

>>> from digitscan import Scanner
>>> result = Scanner().scan("samples/meter_log.jpg")  # doctest: +SKIP
>>> result.texts  # doctest: +SKIP
['2024', '317']
"""

from .errors import DigitscanError, ImageReadError, ImageTooLargeError, ModelError, OutputError
from .result import Box, Digit, Number, ScanResult
from .scanner import Scanner

__all__ = [
    "Box", "Digit", "DigitscanError", "ImageReadError", "ImageTooLargeError", "ModelError",
    "Number", "OutputError", "ScanResult", "Scanner",
]
__version__ = "0.1.0"
