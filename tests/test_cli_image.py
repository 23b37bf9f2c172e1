"""`digitscan image` driven through click, on pages made in code, with the real model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from digitscan.cli import cli
from tests.images import blank_page, write_number


@pytest.fixture()
def page_file(tmp_path):
    page = blank_page(900, 400)
    write_number(page, "2024", 60, 60, 64)
    write_number(page, "317", 520, 70, 60, nth=1)
    write_number(page, "86", 120, 250, 70, nth=2)
    path = tmp_path / "page one.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(page, cv2.COLOR_GRAY2BGR))
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_prints_numbers_in_reading_order(page_file):
    result = run("image", page_file)
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["2024", "317", "86"]


def test_json_output_has_the_documented_shape(page_file):
    result = run("image", page_file, "--json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert set(doc) == {"source", "width", "height", "digits", "numbers"}
    assert (doc["source"], doc["width"], doc["height"]) == (str(page_file), 900, 400)
    assert [n["text"] for n in doc["numbers"]] == ["2024", "317", "86"]
    d = doc["digits"][0]
    assert set(d) == {"label", "confidence", "box"} and len(d["box"]) == 4 and 0 < d["confidence"] <= 1
    n = doc["numbers"][0]
    assert set(n) == {"text", "confidence", "box", "digits"}
    assert [doc["digits"][i]["label"] for i in n["digits"]] == [2, 0, 2, 4]


def test_annotated_output_is_written_and_input_never_overwritten(page_file, tmp_path):
    out = tmp_path / "annotated.png"
    assert run("image", page_file, "-o", out).exit_code == 0
    drawn = cv2.imread(str(out))
    assert drawn.shape == (400, 900, 3)
    original = cv2.imread(str(page_file))
    assert np.abs(drawn.astype(int) - original.astype(int)).sum() > 0  # boxes were drawn
    before = page_file.read_bytes()
    result = run("image", page_file, "-o", page_file)
    assert result.exit_code != 0 and "refusing to overwrite the input" in result.output
    assert page_file.read_bytes() == before


def test_bad_files_are_reported_and_the_rest_still_read(page_file, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = CliRunner().invoke(cli, ["image", str(empty), str(page_file), str(text), str(tmp_path / "gone.jpg")])
    assert result.exit_code == 2
    assert "2024" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("digitscan: error: ") for e in errors)
    assert "empty.jpg: empty file" in errors[0] and "notes.png: not an image" in errors[1]
    assert "Traceback" not in result.output


def test_blank_image_gives_an_empty_result(tmp_path):
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), blank_page(640, 480))
    result = run("image", path, "--json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["digits"] == [] and doc["numbers"] == []


def test_min_confidence_and_debug_folder(page_file, tmp_path):
    loose = json.loads(run("image", page_file, "--json", "--min-confidence", "0.0").output)
    confidences = sorted(d["confidence"] for d in loose["digits"])
    cut = confidences[len(confidences) // 2] - 0.001  # JSON rounds confidences to 4 places
    strict = json.loads(run("image", page_file, "--json", "--min-confidence", cut).output)
    assert strict["digits"] and all(d["confidence"] >= cut - 1e-4 for d in strict["digits"])
    assert len(strict["digits"]) == sum(c >= cut - 1e-4 for c in confidences)
    assert run("image", page_file, "--debug", tmp_path / "dbg").exit_code == 0
    names = sorted(p.name for p in (tmp_path / "dbg").iterdir())
    assert names == ["page one.clean.png", "page one.crops.png", "page one.mask.png"]


def test_pixel_limit_option(page_file):
    result = CliRunner().invoke(cli, ["image", str(page_file), "--max-pixels", "1000"])
    assert result.exit_code == 2 and "above the limit" in result.stderr


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0 and "image" in result.output


def test_cli_confidence_defaults_are_the_scanners():
    from digitscan import cli, scanner
    from digitscan.batch import ScanConfig

    assert (cli.MIN_CONFIDENCE, cli.SURE_ALONE) == (scanner.MIN_CONFIDENCE, scanner.SURE_ALONE)
    assert ScanConfig().min_confidence == scanner.MIN_CONFIDENCE


def test_the_annotated_image_gets_ordinary_permissions(page_file, tmp_path):
    """Written aside and renamed into place, the output still gets the permissions any new file
    gets (mkstemp's are private), or keeps those of the file it replaces."""
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = tmp_path / "annotated.png"
        assert run("image", page_file, "-o", out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o640)
        assert run("image", page_file, "-o", out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(umask)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the system does not tell the umask")
def test_the_umask_is_read_without_being_set(monkeypatch):
    # Setting the umask to learn it would, for that moment, give a file another thread of a batch
    # creates the wrong permissions.
    from digitscan import outputs

    umask = os.umask(0o027)
    try:
        def refuse(mask):
            raise AssertionError("the umask was set")

        monkeypatch.setattr(outputs.os, "umask", refuse)
        assert outputs._umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(umask)
