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

