"""Shared fixtures. Tests make their images in code or use small files under tests/fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for training/ and benchmarks/


@pytest.fixture(scope="session")
def scanner():
    """The real Scanner with the shipped model (loaded once for the whole run)."""
    from digitscan import Scanner

    return Scanner()


# Conditions the pipeline does not yet read right, each an open weakness (see README, "What is
# still weak"). They run and report as xfail; one that starts passing reports XPASS.
KNOWN_WEAK = {
    "test_grid_paper": "grid lines crossing small digits still cost a digit now and then",
    "test_numbers_in_form_boxes[11]": "digits crossing comb-field walls are lost or split",
    "test_numbers_in_form_boxes[12]": "digits crossing comb-field walls are lost or split",
    "test_cheque_amount_field[20]": "the guilloche background and 20-px digits defeat the mask",
    "test_cheque_amount_field[21]": "the guilloche background and 20-px digits defeat the mask",
    "test_cheque_amount_field[22]": "a thousands separator merged into its neighbour",
    "test_cheque_thousands_separator": "the guilloche background adds 1s",
    "test_broken_strokes": "pieces of a digit broken across its middle are read apart",
    "test_touching_digits": "digits that overlap (not just touch) leave no clean cut",
    "test_blank_page_reads_nothing[kraft-shadow-jpeg]": "JPEG blocks in a deep shadow pass as ink",
    "test_sample_photo_reads_as_expected[score_sheet.jpg]": "one comb field reads 11,7 for 1118",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = KNOWN_WEAK.get(item.name)
        if reason and item.module.__name__.endswith("test_conditions"):
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
