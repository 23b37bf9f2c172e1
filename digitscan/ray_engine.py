"""The batch job on Ray Data: the same inputs, records and outputs as the local engine, with the
scanning spread over a Ray cluster (or a local Ray started for the run).

The image paths become a Ray dataset; `map_batches` runs a pool of actors, each loading the model
once and turning a batch of paths into records with the same `BatchScanner` the local engine
uses. Each actor reads its files itself, so one unreadable file is one failed record rather than
a failed read task, and on a cluster the paths must be visible to every node (shared storage).

For .jsonl and .csv outputs the records stream back to the driver, which appends them to the
results file exactly as the local engine does (so --resume and kill-safety are the same). For a
.parquet output, Ray writes a folder of Parquet files from the workers.

Ray is imported only here, and only when the engine is used: `pip install "digitscan[ray]"`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .batch import (
    BatchScanner, Discovery, ImageTask, ScanConfig, Summary, build_scanner, check_writable_folder, csv_row, discover,
)
from .classify import MODEL_ENV
from .errors import DigitscanError, ImageReadError, OutputError

BATCH_SIZE = 16  # images per actor call: big enough to amortise Ray's overhead, small for even spread
PARQUET_COLUMNS = ("source", "numbers", "digits", "confidence", "error", "record")


class RayEngineError(DigitscanError):
    """Ray is not installed, or the cluster cannot be reached."""


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (Ray without its data extra has no ray.data)
    except ImportError:
        raise RayEngineError('the Ray engine needs Ray Data: pip install "digitscan[ray]"') from None
    return ray


class ScanActor:
    """A Ray Data actor: loads the model once, then scans batches of image paths into records."""

    def __init__(self, config: ScanConfig):
        self.scanner = BatchScanner(config)

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        records = [self.scanner.record(ImageTask(os.fsdecode(source), os.fsdecode(rel)), os.fsdecode(path))
                   for source, rel, path in zip(batch["source"], batch["rel"], batch["path"])]
        rows = [csv_row(r) for r in records]
        return pa.table({
            "source": pa.array([_readable(r["source"]) for r in records], pa.string()),
            "numbers": pa.array([row[1] for row in rows], pa.string()),
            "digits": pa.array([int(row[2]) if row[2] else None for row in rows], pa.int32()),
            "confidence": pa.array([float(row[3]) if row[3] else None for row in rows], pa.float64()),
            "error": pa.array([_readable(r["error"]) if r.get("error") else None for r in records], pa.string()),
            # Exact, whatever bytes the file name holds: JSON escapes what UTF-8 cannot carry.
            "record": pa.array([json.dumps(r) for r in records], pa.string()),
        })


def _readable(text: str) -> str:
    """Text that Arrow can store: undecodable bytes of a file name become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _RaySession:
    """Joins the Ray the caller already started, or starts (and later stops) one for the run."""

    def __init__(self, address: str | None):
        self.ray = _import_ray()
        self.started = False
        if not self.ray.is_initialized():
            try:
                self.ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                              log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                raise RayEngineError(f"cannot start or join Ray at {address or 'a new local instance'}: "
                                     f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                                     ) from None
            self.started = True

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _actor_plan(ray, workers: int | None) -> tuple[int, float]:
    """How many actors, and how many CPUs each claims.

    Actors claim a fraction of a CPU so that Ray's own read and write tasks always find a free
    one: on a 2-CPU machine two full-CPU actors would leave nothing for them.
    """
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    count = workers or max(1, int(cpus))
    share = min(1.0, max(0.1, (cpus - 1.0) / count)) if cpus > 1 else 0.5
    return count, share


def _dataset(ray, tasks: Sequence[ImageTask], config: ScanConfig, workers: int | None):
    from ray.data import ActorPoolStrategy, DataContext

    count, share = _actor_plan(ray, workers)
    count = max(1, min(count, len(tasks)))
    # The model path as the driver sees it ($DIGITSCAN_MODEL included): workers may not share
    # the driver's environment. None lets each worker find its own installed, shipped model.
    model = config.model or os.environ.get(MODEL_ENV) or None
    actor_config = replace(config, model=_absolute(model), annotate=_absolute(config.annotate), threads=1)
    DataContext.get_current().enable_progress_bars = False
    # The driver draws its own progress bar and summary; Ray Data's INFO lines would drown them.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # As bytes: a file name need not be valid UTF-8, and Arrow strings must be.
    # Absolute paths to read: an actor's working folder need not be the driver's.
    items = [{"source": os.fsencode(t.source), "rel": os.fsencode(t.rel),
              "path": os.fsencode(os.path.abspath(t.source))} for t in tasks]
    # Small jobs still get a block per actor, so that every actor has work.
    batch_size = max(1, min(BATCH_SIZE, -(-len(items) // count)))
    blocks = max(count, min(len(items), -(-len(items) // batch_size)))
    return ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        ScanActor,
        fn_constructor_kwargs={"config": actor_config},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=count),
        num_cpus=share,
    )


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(path)) if path else None


def scan_with_ray(tasks: Sequence[ImageTask], config: ScanConfig, *, workers: int | None = None,
                  address: str | None = None) -> Iterator[dict[str, Any]]:
    """Scan images on Ray, yielding records in the driver as batches finish.

    Args:
        tasks: the images (from `digitscan.batch.discover`).
        config: as for the local engine.
        workers: actors, each loading the model once (default: one per CPU of the cluster).
        address: the Ray cluster to join (None: the running one, or start a local one).
    """
    tasks = list(tasks)
    if not tasks:
        return
    build_scanner(config)  # a bad model: one error now, not one per image on every node
    session = _RaySession(address)
    try:
        dataset = _dataset(session.ray, tasks, config, workers)
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for line in batch.column("record").to_pylist():
                yield json.loads(line)
    finally:
        session.close()


def run_parquet(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, config: ScanConfig,
                recursive: bool = False, workers: int | None = None, address: str | None = None,
                resume: bool = False, force: bool = False, quiet: bool = False) -> Summary:
    """Scan into a folder of Parquet files written by the Ray workers.

    Columns: source, numbers (space-separated), digits (count), confidence (mean), error, and
    record (the full JSON record). With `resume`, the sources already in the folder are skipped
    and new files are added beside the old ones.
    """
    output = Path(output)
    found: Discovery = discover(inputs, recursive=recursive, exclude=[config.annotate] if config.annotate else [])
    if not found.tasks:
        raise ImageReadError(f"{' '.join(map(str, inputs))}: no images found")
    if config.annotate:
        check_writable_folder(config.annotate, "annotated images")
    done = _parquet_sources(output, resume=resume, force=force)
    check_writable_folder(output, "Parquet results")
    summary = Summary(found=len(found.tasks), problems=list(found.problems))
    todo = [t for t in found.tasks if t.source not in done]
    summary.skipped = summary.found - len(todo)
    if todo:
        build_scanner(config)
        session = _RaySession(address)
        try:
            from ray.data import DataContext

            dataset = _dataset(session.ray, todo, config, workers)
            DataContext.get_current().enable_progress_bars = not quiet
            dataset.write_parquet(str(output))
        finally:
            session.close()
    _count_parquet(output, summary, skip=done)
    summary.finished = time.perf_counter()
    return summary


def _parquet_sources(folder: Path, *, resume: bool, force: bool) -> set[str]:
    """The sources already in a Parquet results folder (resume), after the usual refusals."""
    import pyarrow.parquet as pq

    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: a .parquet output is a folder, and this is a file")
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if files and not (resume or force):
        raise OutputError(f"{folder}: already holds results (use --resume to complete it, --force to overwrite it)")
    if force:
        for f in files:
            f.unlink()
        return set()
    done: set[str] = set()
    for f in files:
        try:
            records = pq.read_table(f, columns=["record"]).column("record").to_pylist()
            done.update(json.loads(r)["source"] for r in records)
        except Exception:  # a file cut short by a kill has no footer
            raise OutputError(f"{f}: unreadable Parquet file (from an interrupted run?): "
                              "delete it, then run again with --resume") from None
    return done


def _count_parquet(folder: Path, summary: Summary, skip: set[str]) -> None:
    import pyarrow.parquet as pq

    for f in sorted(folder.glob("*.parquet")):
        for line in pq.read_table(f, columns=["record"]).column("record").to_pylist():
            record = json.loads(line)
            if record["source"] not in skip:
                summary.add(record)
