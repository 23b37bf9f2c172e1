"""What a scan returns: digits, the numbers they form, and plain-dict export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Box(NamedTuple):
    """An axis-aligned box in pixels of the image as the user sees it: x, y, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def x2(self) -> int:
        return self.x + self.w

    @property
    def y2(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.x2, other.x2) - x, max(self.y2, other.y2) - y)

    def iou(self, other: Box) -> float:
        """Intersection over union of two boxes.

        >>> Box(0, 0, 10, 10).iou(Box(5, 0, 10, 10))
        0.3333333333333333
        """
        iw = min(self.x2, other.x2) - max(self.x, other.x)
        ih = min(self.y2, other.y2) - max(self.y, other.y)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)


@dataclass(frozen=True)
class Digit:
    """One digit read from the image."""

    label: int
    confidence: float
    box: Box

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclass(frozen=True)
class Number:
    """Digits on one line, close enough together to be read as one number."""

    text: str
    confidence: float
    box: Box
    digits: tuple[int, ...]  # indices into ScanResult.digits

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
            "digits": list(self.digits),
        }


@dataclass
class ScanResult:
    """Everything one scan found in one image.

    >>> r = ScanResult(source="a.png", width=10, height=10)
    >>> r.to_dict()["numbers"]
    []
    """

    source: str
    width: int
    height: int
    digits: list[Digit] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)
    marks: list[Box] = field(default_factory=list, repr=False)  # dots and commas seen (separators or specks)
    page: Any = field(default=None, repr=False, compare=False)  # the digitscan.read.Page scanned
    trace: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def draw(self, image: Any = None, *, show_confidence: bool = False) -> Any:
        """The scanned image (or `image`) with digits boxed and labelled, as a BGR array."""
        from .render import draw

        if image is None:
            if self.page is None:
                raise ValueError("this result holds no image: pass the image to draw on")
            image = self.page.color()
        return draw(image, self, show_confidence=show_confidence)

    @property
    def texts(self) -> list[str]:
        """The numbers' readings, in reading order."""
        return [n.text for n in self.numbers]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "digits": [d.to_dict() for d in self.digits],
            "numbers": [n.to_dict() for n in self.numbers],
        }
