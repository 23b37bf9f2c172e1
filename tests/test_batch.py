"""`digitscan batch` with the local engine: outputs, bad files, refusals, resume after a kill."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from digitscan.batch import (
    EXIT_SOME_FAILED, ImageTask, ResultsFile, ScanConfig, WorkerError, discover, run_batch, scan_locally,
)
from digitscan.cli import cli
from digitscan.errors import OutputError
from tests.images import blank_page, write_number

ROOT = Path(__file__).resolve().parent.parent
GOOD_NAMES = ["a.png", "b.jpg", "sub/c d é.png", "sub/deeper/ünïcode 7.png", "sub/e.bmp"]


def _page(seed: int) -> np.ndarray:
    page = blank_page(480, 320)
    write_number(page, str(10 + 7 * seed), 40, 60, height=70, nth=seed % 3)
    write_number(page, str(3 + seed), 260, 200, height=60, nth=(seed + 1) % 3)
    return page


def _make_images(folder: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), _page(i))


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """A tree of good images with bad ones mixed in."""
    folder = tmp_path / "photos"
    _make_images(folder, GOOD_NAMES)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a jpeg\n")
    (folder / "notes.txt").write_text("not looked at: not an image name\n")
    (folder / "truncated.png").write_bytes((folder / "a.png").read_bytes()[:200])
    os.symlink("nowhere.png", folder / "dangling.png")
    os.symlink("..", folder / "sub" / "loop")  # with -r, a loop back to the top
    os.mkfifo(folder / "sub" / "pipe.png")  # reading it would block forever
    return folder


BAD_NAMES = ["empty.png", "text.jpg", "truncated.png", "dangling.png", "sub/pipe.png"]


def _jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def _run(args: list[str]):
    return CliRunner().invoke(cli, ["batch", *args])


def test_jsonl_has_every_image_once_with_the_photo_commands_json(photos: Path, tmp_path: Path, scanner) -> None:
    out = tmp_path / "results.jsonl"
    result = _run([str(photos), "-r", "-o", str(out), "--workers", "1"])

    assert result.exit_code == EXIT_SOME_FAILED, result.output
    records = {r["source"]: r for r in _jsonl(out)}
    assert len(records) == len(_jsonl(out)) == len(GOOD_NAMES) + len(BAD_NAMES)
    for name in GOOD_NAMES:
        source = str(photos / name)
        assert records[source] == scanner.scan(source).to_dict()
        assert records[source]["digits"], f"{name}: the digits written on it were not found"
    for name in BAD_NAMES:
        record = records[str(photos / name)]
        assert set(record) == {"source", "error"}
        assert record["error"].startswith(str(photos / name)) and "\n" not in record["error"]
    assert "not a regular file" in records[str(photos / "sub/pipe.png")]["error"]
    assert "empty file" in records[str(photos / "empty.png")]["error"]
    assert f"{len(GOOD_NAMES)} done, {len(BAD_NAMES)} failed" in result.stderr


def test_without_recursion_only_the_top_folder(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.jsonl"
    result = _run([str(photos), "-o", str(out), "--workers", "1"])
    sources = {r["source"] for r in _jsonl(out)}
    assert result.exit_code == EXIT_SOME_FAILED
    assert sources == {str(photos / n) for n in ["a.png", "b.jpg", "empty.png", "text.jpg", "truncated.png",
                                                  "dangling.png"]}


def test_csv_matches_the_jsonl(photos: Path, tmp_path: Path) -> None:
    jsonl, table = tmp_path / "r.jsonl", tmp_path / "r.csv"
    assert _run([str(photos), "-r", "-o", str(jsonl), "--workers", "2"]).exit_code == EXIT_SOME_FAILED
    assert _run([str(photos), "-r", "-o", str(table), "--workers", "1"]).exit_code == EXIT_SOME_FAILED

    records = {r["source"]: r for r in _jsonl(jsonl)}
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["source", "numbers", "digits", "confidence", "error"]
    assert {row["source"] for row in rows} == set(records) and len(rows) == len(records)
    for row in rows:
        record = records[row["source"]]
        if "error" in record:
            assert row["error"] == record["error"] and row["numbers"] == row["digits"] == ""
        else:
            assert row["error"] == ""
            assert row["numbers"] == " ".join(n["text"] for n in record["numbers"])
            assert int(row["digits"]) == len(record["digits"])
            mean = np.mean([d["confidence"] for d in record["digits"]])
            assert float(row["confidence"]) == pytest.approx(mean, abs=1e-4)


def test_all_good_exits_zero_and_annotates_mirroring_the_tree(tmp_path: Path) -> None:
    folder, marked = tmp_path / "in", tmp_path / "marked"
    _make_images(folder, GOOD_NAMES)
    out = tmp_path / "r.jsonl"
    result = _run([str(folder), "-r", "-o", str(out), "--annotate", str(marked), "--workers", "2"])

    assert result.exit_code == 0, result.output
    assert len(_jsonl(out)) == len(GOOD_NAMES)
    for name in GOOD_NAMES:
        copy = cv2.imread(str(marked / name))
        assert copy is not None and copy.shape[:2] == cv2.imread(str(folder / name)).shape[:2]
        assert not np.array_equal(copy, cv2.imread(str(folder / name)))  # boxes were drawn
    # The annotated folder inside the input is not scanned on a re-run.
    inner = folder / "marked"
    again = _run([str(folder), "-r", "-o", str(tmp_path / "again.jsonl"), "--annotate", str(inner), "--workers", "1"])
    assert again.exit_code == 0
    assert all("marked" not in r["source"] for r in _jsonl(tmp_path / "again.jsonl"))
    globbed = _run([str(folder / "**" / "*.png"), "-o", str(tmp_path / "g.jsonl"), "--annotate", str(inner)])
    assert globbed.exit_code == 0
    assert all("marked" not in r["source"] for r in _jsonl(tmp_path / "g.jsonl"))


def test_list_file_glob_and_stdin(photos: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my scans\n{photos / 'a.png'}\n\n{photos / 'sub/c d é.png'}\n{photos / 'missing.png'}\n")
    out = tmp_path / "list.jsonl"
    result = _run([str(listing), "-o", str(out), "--workers", "1"])
    records = {r["source"]: r for r in _jsonl(out)}
    assert result.exit_code == EXIT_SOME_FAILED
    assert set(records) == {str(photos / "a.png"), str(photos / "sub/c d é.png"), str(photos / "missing.png")}
    assert "no such file" in records[str(photos / "missing.png")]["error"]

    globbed = tmp_path / "glob.jsonl"
    assert _run([str(photos / "**" / "*.png"), "-o", str(globbed), "--workers", "1"]).exit_code == EXIT_SOME_FAILED
    assert {Path(r["source"]).name for r in _jsonl(globbed)} >= {"a.png", "c d é.png", "ünïcode 7.png"}

    piped = tmp_path / "stdin.csv"
    result = CliRunner().invoke(cli, ["batch", "-", "-o", str(piped)], input=f"{photos / 'b.jpg'}\n")
    assert result.exit_code == 0, result.output
    assert [row["source"] for row in csv.DictReader(piped.open(encoding="utf-8"))] == [str(photos / "b.jpg")]


def test_existing_output_is_never_overwritten_without_force(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text('{"source": "precious"}\n')
    result = _run([str(photos), "-o", str(out)])
    assert result.exit_code == OutputError.exit_code
    assert result.stderr.strip().splitlines() == [
        f"digitscan: error: {out}: already exists (use --resume to complete it, --force to overwrite it)"]
    assert out.read_text() == '{"source": "precious"}\n'

    assert _run([str(photos), "-o", str(out), "--resume", "--force"]).exit_code == 2
    forced = _run([str(photos), "-o", str(out), "--force", "--workers", "1"])
    assert forced.exit_code == EXIT_SOME_FAILED
    assert "precious" not in out.read_text() and len(_jsonl(out)) == 6


def test_unwritable_output_is_refused_before_any_work(photos: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    marked = tmp_path / "marked"
    result = _run([str(photos), "-o", str(blocker / "r.jsonl"), "--annotate", str(marked)])
    assert result.exit_code == OutputError.exit_code
    assert result.stderr.startswith(f"digitscan: error: {blocker}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(marked.rglob("*.png"))  # nothing was scanned

    result = _run([str(photos), "-o", str(tmp_path / "r.jsonl"), "--annotate", str(blocker / "x")])
    assert result.exit_code == OutputError.exit_code and "cannot write" in result.stderr
    assert not (tmp_path / "r.jsonl").exists() or (tmp_path / "r.jsonl").stat().st_size == 0


def test_permissions(photos: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    (photos / "a.png").chmod(0)
    try:
        if os.access(photos / "a.png", os.R_OK):
            pytest.skip("permissions are not enforced for this user (root)")
        refused = _run([str(photos), "-o", str(locked / "r.jsonl")])
        assert refused.exit_code == OutputError.exit_code and "cannot write" in refused.stderr
        out = tmp_path / "r.jsonl"
        assert _run([str(photos), "-o", str(out), "--workers", "1"]).exit_code == EXIT_SOME_FAILED
        record = {r["source"]: r for r in _jsonl(out)}[str(photos / "a.png")]
        assert "cannot read" in record["error"]
    finally:
        locked.chmod(0o700)
        (photos / "a.png").chmod(0o600)


def test_missing_input_and_empty_folder_are_one_line_errors(tmp_path: Path) -> None:
    missing = _run([str(tmp_path / "nope"), "-o", str(tmp_path / "r.jsonl")])
    assert missing.exit_code == 2
    assert missing.stderr == f"digitscan: error: {tmp_path / 'nope'}: no such file or folder\n"
    (tmp_path / "empty").mkdir()
    empty = _run([str(tmp_path / "empty"), "-o", str(tmp_path / "r.jsonl")])
    assert empty.exit_code == 2 and "no images found" in empty.stderr
    bad_format = _run([str(tmp_path / "empty"), "-o", str(tmp_path / "r.txt")])
    assert bad_format.exit_code == 4 and "unknown results format" in bad_format.stderr


def test_a_folder_vanishing_mid_run_fails_its_images_only(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    names = ["a.png", "b.png", "gone/c.png", "gone/d.png"]
    _make_images(folder, names)
    out = tmp_path / "r.jsonl"

    def remove_folder(record: dict) -> None:
        shutil.rmtree(folder / "gone", ignore_errors=True)

    summary = run_batch([folder], out, recursive=True, workers=1, on_record=remove_folder)
    records = {r["source"]: r for r in _jsonl(out)}
    assert set(records) == {str(folder / n) for n in names}
    assert (summary.done, summary.failed, summary.exit_code) == (2, 2, EXIT_SOME_FAILED)
    assert "no such file" in records[str(folder / "gone/c.png")]["error"]


def test_resume_drops_a_partial_line_and_repeats_nothing(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    first = _jsonl_of_run(photos, out)
    kept = first[:3]
    out.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"source": "half a li')
    result = _run([str(photos), "-r", "-o", str(out), "--resume", "--workers", "2"])
    assert result.exit_code == EXIT_SOME_FAILED
    assert "3 already done, skipped" in result.stderr
    again = _jsonl(out)
    assert sorted(r["source"] for r in again) == sorted(r["source"] for r in first)
    assert again[:3] == kept


def _jsonl_of_run(photos: Path, out: Path) -> list[dict]:
    assert _run([str(photos), "-r", "-o", str(out), "--workers", "1"]).exit_code == EXIT_SOME_FAILED
    return _jsonl(out)


def test_resume_csv_with_a_partial_quoted_record(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _make_images(folder, ["x, \"quoted\".png", "y.png", "z\nnew line.png"])
    out = tmp_path / "r.csv"
    assert _run([str(folder), "-o", str(out), "--workers", "1"]).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + '"' + lines[2][:5], encoding="utf-8")  # cut inside a quoted field
    assert _run([str(folder), "-o", str(out), "--resume", "--workers", "1"]).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sorted(r["source"] for r in rows) == sorted(str(p) for p in folder.iterdir())


def test_resume_refuses_a_file_that_is_not_a_results_file(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("hello\n")
    result = _run([str(photos), "-o", str(out), "--resume"])
    assert result.exit_code == OutputError.exit_code and "not a digitscan result" in result.stderr
    assert out.read_text() == "hello\n"


def test_one_run_at_a_time_per_output(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with ResultsFile.open(out):
        with pytest.raises(OutputError, match="in use by another digitscan run"):
            ResultsFile.open(out, resume=True)


class _KillsItsWorker(ImageTask):
    """A task whose unpickling in the worker ends that process, as a crash in a native library would."""

    def __reduce__(self):
        return (os._exit, (70,))


def test_a_worker_that_dies_fails_only_its_image(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _make_images(folder, ["a.png", "b.png", "c.png", "d.png"])
    good = discover([folder]).tasks
    deadly = _KillsItsWorker(str(folder / "deadly.png"), "deadly.png")
    tasks = [*good[:2], deadly, *good[2:]]

    records = {r["source"]: r for r in scan_locally(tasks, ScanConfig(), workers=2)}

    assert set(records) == {t.source for t in tasks}
    assert records[deadly.source] == {"source": deadly.source,
                                      "error": f"{deadly.source}: the worker process died while scanning it"}
    assert all("error" not in records[t.source] for t in good)


def test_workers_that_cannot_start_are_one_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model")
    tasks = [ImageTask(f"img{i}.png", f"img{i}.png") for i in range(3)]
    with pytest.raises(WorkerError, match="cannot start"):
        list(scan_locally(tasks, ScanConfig(model=str(broken)), workers=2))


def test_discover_follows_symlinked_folders_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _make_images(folder, ["a.png", "real/b.png"])
    os.symlink(folder / "real", folder / "alias")
    os.symlink(folder, folder / "real" / "up")
    found = discover([folder], recursive=True)
    assert sorted(Path(t.source).name for t in found.tasks) == ["a.png", "b.png"]
    assert found.problems == []


def test_resume_after_sigkill_repeats_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    page = cv2.imencode(".png", _page(1))[1].tobytes()
    total = 160
    for i in range(total):
        (folder / f"page {i:03d}.png").write_bytes(page)
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "digitscan", "batch", str(folder), "-o", str(out), "--workers", "2", "-q"]

    run = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 10:
                break
            time.sleep(0.005)
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the orphaned workers of this run, if any
        except ProcessLookupError:
            pass
    data = out.read_bytes()
    written = data.count(b"\n")
    assert 10 <= written < total
    assert data.endswith(b"\n"), "a half line was left"
    assert len({json.loads(line)["source"] for line in data.splitlines()}) == written

    done = subprocess.run([*command, "--resume"], env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    sources = [r["source"] for r in _jsonl(out)]
    assert len(sources) == total
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())
