"""The Ray engine gives the same records as the local engine (a local Ray with 2 CPUs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from digitscan.batch import ScanConfig, discover, run_batch  # noqa: E402
from digitscan.ray_engine import run_parquet, scan_with_ray  # noqa: E402
from tests.test_batch import GOOD_NAMES, _make_images  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray") / "photos"
    _make_images(root, GOOD_NAMES + ["more/f.png", "more/g.png"])
    (root / "empty.png").write_bytes(b"")
    (root / "more" / "text.png").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def local_records(folder: Path, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("local") / "r.jsonl"
    run_batch([folder], out, recursive=True, workers=1)
    return {r["source"]: r for r in map(json.loads, out.read_text().splitlines())}


def test_ray_engine_agrees_with_the_local_engine(local_ray, folder: Path, local_records, tmp_path: Path) -> None:
    marked = tmp_path / "marked"
    tasks = discover([folder], recursive=True).tasks
    records = list(scan_with_ray(tasks, ScanConfig(annotate=str(marked)), workers=2))

    assert len(records) == len(tasks) == len(local_records)
    assert {r["source"]: r for r in records} == local_records
    assert sum("error" in r for r in records) == 2
    assert sorted(p.relative_to(marked).as_posix() for p in marked.rglob("*") if p.is_file()) == sorted(
        GOOD_NAMES + ["more/f.png", "more/g.png"])


def test_ray_parquet_output_and_resume(local_ray, folder: Path, local_records, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "r.parquet"
    summary = run_parquet([folder], out, config=ScanConfig(), recursive=True, workers=2, quiet=True)
    table = pq.read_table(out)
    assert sorted(table.column("source").to_pylist()) == sorted(local_records)
    assert {json.loads(r)["source"]: json.loads(r) for r in table.column("record").to_pylist()} == local_records
    assert (summary.done, summary.failed, summary.exit_code) == (len(local_records) - 2, 2, 5)

    again = run_parquet([folder], out, config=ScanConfig(), recursive=True, resume=True, quiet=True)
    assert again.skipped == len(local_records) and again.done == again.failed == 0
    assert pq.read_table(out).num_rows == len(local_records)
