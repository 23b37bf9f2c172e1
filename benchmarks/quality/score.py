"""Score scans against the truth of synthetic pages: digits by box and label, numbers by text.

A predicted digit is right when its label is the truth's and its box overlaps the truth's
ink box with IoU >= 0.5 (one prediction per truth digit). A truth number is found when a
predicted number has exactly its text (separators included: "1,250") and a box that overlaps
the truth's (one to one). The same matching on digits alone (separators dropped on both
sides) is reported too, to tell a missed comma from a missed digit.

    python -m benchmarks.quality.score PAGES_DIR [--model FILE] [--draw DIR]   # scan a generated set, score it
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

DIGIT_IOU = 0.5
# How a digit error looks, decided from the boxes of the digits not matched:
ERROR_KINDS = {
    "misread": "at the right place, wrong label",
    "split": "one written digit read as two or more",
    "merged": "two or more written digits read as one",
    "lost": "a written digit with no read digit on it",
    "shifted": "a read digit on a written one, but IoU < 0.5 (a piece, or with extra ink)",
    "phantom": "a read digit where nothing is written (lines, frames, marks, noise)",
}


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    """Intersection over union of two [x, y, w, h] boxes.

    >>> iou([0, 0, 10, 10], [5, 0, 10, 10])
    0.3333333333333333
    """
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@dataclass
class PageScore:
    """What one scan got right and wrong on one page."""

    file: str
    conditions: list[str]
    truth_digits: int = 0
    predicted_digits: int = 0
    right_digits: int = 0
    truth_numbers: int = 0
    predicted_numbers: int = 0
    found_numbers: int = 0
    found_plain: int = 0  # numbers found when separators are ignored
    alone_right: int = 0  # truth digits that the classifier reads right shown alone (see `read_alone`)
    misread: list[str] = field(default_factory=list)  # "7->1" at the right place, wrong label
    missed: list[str] = field(default_factory=list)  # truth digits with no prediction there
    extra: list[str] = field(default_factory=list)  # predictions where no truth digit is
    numbers_missed: list[str] = field(default_factory=list)  # "truth -> best overlapping read"
    numbers_extra: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # what each digit error looks like (see `ERROR_KINDS`)

    @property
    def perfect(self) -> bool:
        return self.right_digits == self.truth_digits == self.predicted_digits and \
            self.found_numbers == self.truth_numbers == self.predicted_numbers


def _greedy(pairs: list[tuple[float, int, int]]) -> list[tuple[int, int]]:
    """One-to-one matching, best pairs first."""
    used_t, used_p, out = set(), set(), []
    for _, t, p in sorted(pairs, reverse=True):
        if t not in used_t and p not in used_p:
            used_t.add(t)
            used_p.add(p)
            out.append((t, p))
    return out


def score_page(truth: dict, result: dict) -> PageScore:
    """Compare one scan (`ScanResult.to_dict()`) with one page's truth (an entry of truth.json)."""
    s = PageScore(truth["file"], truth["conditions"])
    td, pd = truth["digits"], result["digits"]
    s.truth_digits, s.predicted_digits = len(td), len(pd)
    overlaps = [(iou(t["box"], p["box"]), i, j) for i, t in enumerate(td) for j, p in enumerate(pd)]
    overlaps = [o for o in overlaps if o[0] >= DIGIT_IOU]
    right = _greedy([o for o in overlaps if td[o[1]]["label"] == pd[o[2]]["label"]])
    s.right_digits = len(right)
    done_t, done_p = {t for t, _ in right}, {p for _, p in right}
    for t, p in _greedy([o for o in overlaps if o[1] not in done_t and o[2] not in done_p]):
        s.misread.append(f"{td[t]['label']}->{pd[p]['label']}@{td[t]['box']}")
        done_t.add(t)
        done_p.add(p)
    s.missed = [f"{t['label']}@{t['box']}" for i, t in enumerate(td) if i not in done_t]
    s.extra = [f"{p['label']}@{p['box']}" for j, p in enumerate(pd) if j not in done_p]
    s.kinds = _error_kinds(td, pd, done_t, done_p, len(s.misread))

    tn, pn = truth["numbers"], result["numbers"]
    s.truth_numbers, s.predicted_numbers = len(tn), len(pn)
    same = [(iou(t["box"], p["box"]), i, j) for i, t in enumerate(tn) for j, p in enumerate(pn)
            if t["text"] == p["text"] and iou(t["box"], p["box"]) > 0]
    found = _greedy(same)
    s.found_numbers = len(found)
    s.found_plain = len(_greedy([
        (iou(t["box"], p["box"]), i, j) for i, t in enumerate(tn) for j, p in enumerate(pn)
        if _plain(t["text"]) == _plain(p["text"]) and iou(t["box"], p["box"]) > 0
    ]))
    found_t, found_p = {t for t, _ in found}, {p for _, p in found}
    for i, t in enumerate(tn):
        if i in found_t:
            continue
        near = [p["text"] for j, p in enumerate(pn) if j not in found_p and iou(t["box"], p["box"]) > 0]
        s.numbers_missed.append(f"{t['text']}->{'|'.join(near) or '(nothing)'}")
    s.numbers_extra = [p["text"] for j, p in enumerate(pn) if j not in found_p]
    return s


def cover(inner: list[int], outer: list[int]) -> float:
    """The share of box `inner` that lies inside box `outer`."""
    iw = min(inner[0] + inner[2], outer[0] + outer[2]) - max(inner[0], outer[0])
    ih = min(inner[1] + inner[3], outer[1] + outer[3]) - max(inner[1], outer[1])
    return max(0, iw) * max(0, ih) / max(1, inner[2] * inner[3])


def _error_kinds(td: list[dict], pd: list[dict], done_t: set[int], done_p: set[int], misread: int) -> Counter:
    """Sort the unmatched truth and read digits into the kinds of `ERROR_KINDS`."""
    kinds: Counter = Counter()
    if misread:
        kinds["misread"] = misread
    left_t = [i for i in range(len(td)) if i not in done_t]
    left_p = [j for j in range(len(pd)) if j not in done_p]
    used_p: set[int] = set()
    for i in left_t:
        # Read digits lying mostly inside this written digit: two or more is a split.
        inside = [j for j in left_p if cover(pd[j]["box"], td[i]["box"]) >= 0.6]
        if len(inside) >= 2:
            kinds["split"] += 1
            used_p.update(inside)
    for j in left_p:
        if j in used_p:
            continue
        # A read digit covering most of two or more written digits is a merge.
        covered = [i for i in range(len(td)) if cover(td[i]["box"], pd[j]["box"]) >= 0.5]
        if len(covered) >= 2:
            kinds["merged"] += 1
            used_p.add(j)
    for i in left_t:
        touching = [j for j in left_p if iou(td[i]["box"], pd[j]["box"]) > 0]
        if not touching:
            kinds["lost"] += 1
        elif not any(j in used_p for j in touching):
            kinds["shifted"] += 1
            used_p.update(touching)
    kinds["phantom"] += sum(1 for j in left_p if j not in used_p
                            and not any(iou(t["box"], pd[j]["box"]) > 0 for t in td))
    return +kinds


def _plain(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _share(part: int, whole: int) -> float:
    """part / whole; 1.0 when there is nothing to get right (no digit written, none read)."""
    return part / whole if whole else 1.0


@dataclass
class Totals:
    pages: int = 0
    perfect: int = 0
    truth_digits: int = 0
    predicted_digits: int = 0
    right_digits: int = 0
    truth_numbers: int = 0
    predicted_numbers: int = 0
    found_numbers: int = 0
    found_plain: int = 0
    alone_right: int = 0
    kinds: Counter = field(default_factory=Counter)

    def add(self, s: PageScore) -> None:
        self.pages += 1
        self.kinds.update(s.kinds)
        self.perfect += int(s.perfect)
        for name in ("truth_digits", "predicted_digits", "right_digits", "truth_numbers", "predicted_numbers",
                     "found_numbers", "found_plain", "alone_right"):
            setattr(self, name, getattr(self, name) + getattr(s, name))

    @property
    def precision(self) -> float:
        return _share(self.right_digits, self.predicted_digits)

    @property
    def recall(self) -> float:
        return _share(self.right_digits, self.truth_digits)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def number_exact(self) -> float:
        """Share of the truth numbers read exactly (text and place)."""
        return _share(self.found_numbers, self.truth_numbers)

    @property
    def alone(self) -> float:
        """Share of the truth digits that the classifier reads right when shown each alone."""
        return _share(self.alone_right, self.truth_digits)

    @property
    def plain_exact(self) -> float:
        """Share of the truth numbers whose digits are read exactly, separators ignored."""
        return _share(self.found_plain, self.truth_numbers)

    @property
    def number_precision(self) -> float:
        """Share of the numbers read that are truth numbers."""
        return _share(self.found_numbers, self.predicted_numbers)


def summarize(scores: list[PageScore], order: tuple[str, ...] = ()) -> dict[str, Totals]:
    """Totals per condition, then overall.

    A page counts for its first tag only: a `mixed` page is tagged with `mixed` and with the
    conditions it mixes, and counts for `mixed`, so that the other rows stay one condition at a time.
    """
    by: dict[str, Totals] = defaultdict(Totals)
    overall = Totals()
    for s in scores:
        by[s.conditions[0]].add(s)
        overall.add(s)
    ordered = {c: by[c] for c in order if c in by}
    ordered.update({c: t for c, t in sorted(by.items()) if c not in ordered})
    ordered["overall"] = overall
    return ordered


def table(totals: dict[str, Totals]) -> str:
    """A Markdown table of the totals."""
    lines = [
        "| condition | pages | perfect pages | digits | read alone | digit P | digit R | digit F1 | numbers "
        "| number exact | digits-only exact | number P |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in totals.items():
        bold = "**" if name == "overall" else ""
        lines.append(
            f"| {bold}{name}{bold} | {t.pages} | {t.perfect} | {t.truth_digits} | {t.alone:.3f} | {t.precision:.3f} | "
            f"{t.recall:.3f} | "
            f"{bold}{t.f1:.3f}{bold} | {t.truth_numbers} | {bold}{t.number_exact:.3f}{bold} | {t.plain_exact:.3f} | "
            f"{t.number_precision:.3f} |"
        )
    return "\n".join(lines)


def kinds_table(totals: dict[str, Totals]) -> str:
    """A Markdown table of the digit errors by kind and condition."""
    names = list(ERROR_KINDS)
    lines = ["| condition | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for name, t in totals.items():
        lines.append(f"| {name} | " + " | ".join(str(t.kinds.get(k, 0)) for k in names) + " |")
    lines += ["", "; ".join(f"`{k}`: {v}" for k, v in ERROR_KINDS.items()) + "."]
    return "\n".join(lines)


def failures(scores: list[PageScore], limit: int = 40) -> str:
    """The pages read imperfectly, worst first, with what went wrong (Markdown list)."""
    bad = sorted((s for s in scores if not s.perfect),
                 key=lambda s: (s.found_numbers - s.truth_numbers, -len(s.extra)))
    out = []
    for s in bad[:limit]:
        parts = []
        if s.numbers_missed:
            parts.append("numbers missed: " + ", ".join(s.numbers_missed))
        if s.numbers_extra:
            parts.append("numbers extra: " + ", ".join(s.numbers_extra))
        if s.misread:
            parts.append(f"{len(s.misread)} misread")
        if s.missed:
            parts.append(f"{len(s.missed)} digits missed")
        if s.extra:
            parts.append(f"{len(s.extra)} extra digits")
        out.append(f"- `{s.file}` ({', '.join(s.conditions)}): {'; '.join(parts)}")
    return "\n".join(out)


def draw_overlay(image, truth: dict, result: dict):
    """The page with truth boxes in green and read digits in red, labelled (BGR array)."""
    import cv2

    out = image.copy()
    for d in truth["digits"]:
        x, y, w, h = d["box"]
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 190, 0), 1)
    for d in result["digits"]:
        x, y, w, h = d["box"]
        cv2.rectangle(out, (x - 1, y - 1), (x + w + 1, y + h + 1), (0, 0, 255), 1)
        cv2.putText(out, str(d["label"]), (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1,
                    cv2.LINE_AA)
    return out


def read_alone(folder: Path, scores: list[PageScore], predict) -> None:
    """Count, per page, the truth digits that the classifier reads right shown alone.

    Each digit is the MNIST image it was written from (`mnist` in truth.json indexes the test
    split, or the validation digits for a set written with `--digits validation`), normalized
    as the pipeline normalizes a crop. This is what a perfect segmentation would let the model
    do: digit recall far below it points at finding and cutting digits, not at reading them.
    """
    import numpy as np

    from digitscan.normalize import to_mnist

    from training.data import load_split

    from .synth import mnist_folder, validation_digits

    truth = json.loads((folder / "truth.json").read_text())
    if truth.get("digits") == "validation":
        images = validation_digits(**truth.get("validation_split", {}))[0]
    else:
        images = load_split(mnist_folder(), "test")[0]
    pages = truth["pages"]
    wanted = sorted({d["mnist"] for p in pages for d in p["digits"] if d.get("mnist") is not None})
    if not wanted:
        return
    labels = predict(np.stack([to_mnist(images[i]) for i in wanted])[..., None]).argmax(axis=1)
    read = dict(zip(wanted, labels.tolist()))
    for page, score in zip(pages, scores):
        score.alone_right = sum(1 for d in page["digits"] if read.get(d.get("mnist")) == d["label"])


def scan_folder(folder: Path, scanner, draw: Path | None = None) -> list[PageScore]:
    """Scan every page listed in `folder/truth.json` and score it.

    Args:
        draw: if given, write `<page>.overlay.png` here for every page read imperfectly.
    """
    truth = json.loads((folder / "truth.json").read_text())
    scores = []
    for page in truth["pages"]:
        result = scanner.scan(folder / page["file"])
        found = result.to_dict()
        score = score_page(page, found)
        scores.append(score)
        if draw is not None and not score.perfect:
            import cv2

            draw.mkdir(parents=True, exist_ok=True)
            image = cv2.imread(str(folder / page["file"]))
            cv2.imwrite(str(draw / f"{Path(page['file']).stem}.overlay.png"), draw_overlay(image, page, found))
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a folder written by benchmarks.quality.generate")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: $DIGITSCAN_MODEL or shipped)")
    parser.add_argument("--draw", type=Path, default=None, help="write truth-vs-read overlays of imperfect pages here")
    args = parser.parse_args(argv)
    from digitscan import Scanner

    from .synth import CONDITIONS, EXTRA_CONDITIONS

    scanner = Scanner(args.model)
    scores = scan_folder(args.folder, scanner, args.draw)
    read_alone(args.folder, scores, scanner.classifier.predict)
    totals = summarize(scores, CONDITIONS + EXTRA_CONDITIONS)
    print(table(totals))
    print()
    print(kinds_table(totals))
    print()
    print(failures(scores))


if __name__ == "__main__":
    main()
