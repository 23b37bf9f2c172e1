"""`digitscan batch`: scan folders of images into one .jsonl or .csv file, locally or on Ray.

Kept light at import time (`digitscan --help` imports it): the library is imported inside the
command.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import click

from .cli import confidence_option, fail, model_option


class Progress:
    """A one-line progress bar with rate and ETA, redrawn on a terminal at most 5 times a second.

    Off a terminal (a log, a pipe) it prints nothing: the summary line says it all.
    """

    def __init__(self, total: int, stream: TextIO, enabled: bool):
        self.total, self.stream, self.enabled = total, stream, enabled and total > 0
        self.count = self.failed = 0
        self.started = time.perf_counter()
        self._drawn = 0.0

    def update(self, failed: bool) -> None:
        self.count += 1
        self.failed += failed
        now = time.perf_counter()
        if self.enabled and (now - self._drawn >= 0.2 or self.count == self.total):
            self._drawn = now
            self.stream.write("\r" + self.render(now) + "\x1b[K")
            self.stream.flush()

    def render(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.count / elapsed
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        filled = int(24 * self.count / self.total)
        bar = "#" * filled + "-" * (24 - filled)
        text = (f"{self.count}/{self.total} [{bar}] {100 * self.count / self.total:3.0f}%  "
                f"{rate:.1f} img/s  ETA {_clock(eta)}")
        return text + (f"  {self.failed} failed" if self.failed else "")

    def close(self) -> None:
        if self.enabled and self.count:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Results file: .jsonl (one JSON object per image) or .csv; .parquet with --engine ray.")
@click.option("-r", "--recursive", is_flag=True, help="Look into subfolders of folder inputs.")
@click.option("--annotate", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write annotated images to this folder, mirroring the input tree.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes (Ray actors) scanning in parallel, each loading the model once [default: all cores].")
@click.option("--resume", is_flag=True, help="Complete an interrupted run: skip images already in the output.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Scan with local processes, or on a Ray cluster (pip install 'digitscan[ray]').")
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to join (e.g. auto, ray://head:10001) [default: start a local Ray].")
@confidence_option
@model_option
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse images with more pixels than this (default 120,000,000).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def batch(inputs: tuple[str, ...], output: Path, recursive: bool, annotate: Path | None, workers: int | None,
          resume: bool, force: bool, engine: str, address: str | None, min_confidence: float,
          model: Path | None, max_pixels: int | None, quiet: bool) -> None:
    """Scan every image in INPUT... into one results file, one line per image.

    INPUT is a folder (its image files; with -r, its subfolders too), a glob pattern (quote it:
    'scans/**/*.jpg'), an image, or a text file listing one path a line (- for stdin).

    An image that cannot be read gets a line with its source and error, and the run goes on.
    Exit status: 0 when every image was read, 5 when some failed, 2/3/4 when the inputs, the
    model or the output are unusable (nothing is scanned then).
    """
    from .batch import (
        ResultsFile, ScanConfig, Summary, available_cpus, build_scanner, check_writable_folder, discover,
        pending_tasks, results_format, scan_locally, write_records,
    )
    from .errors import DigitscanError, ImageReadError

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    if address is not None and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    config = ScanConfig(model=str(model) if model else None, min_confidence=min_confidence, max_pixels=max_pixels,
                        annotate=str(annotate) if annotate else None)
    summary = Summary()
    try:
        if results_format(output, {".parquet": "parquet"}) == "parquet":
            if engine != "ray":
                raise click.UsageError("Parquet output needs --engine ray (use .jsonl or .csv locally)")
            from .ray_engine import run_parquet

            summary = run_parquet(inputs, output, config=config, recursive=recursive, workers=workers,
                                  address=address, resume=resume, force=force, quiet=quiet)
            for problem in summary.problems:
                click.echo(f"digitscan: warning: {problem}", err=True)
            _finish(summary, quiet)
            return
        found = discover(inputs, recursive=recursive, exclude=[annotate] if annotate else [])
        for problem in found.problems:
            click.echo(f"digitscan: warning: {problem}", err=True)
        if not found.tasks:
            raise ImageReadError(f"{' '.join(inputs)}: no images found")
        if annotate is not None:
            check_writable_folder(annotate, "annotated images")
        with ResultsFile.open(output, resume=resume, force=force) as results:
            todo = pending_tasks(found, results, summary)
            if engine == "ray":
                from .ray_engine import scan_with_ray

                records = scan_with_ray(todo, config, workers=workers, address=address)
            else:
                build_scanner(config)  # a bad model: one line now, not one per image
                count = min(workers or available_cpus(), max(1, len(todo)))
                records = scan_locally(todo, config, count)
            progress = Progress(len(todo), sys.stderr, enabled=not quiet and sys.stderr.isatty())
            summary.started = time.perf_counter()
            try:
                write_records(records, results, summary, on_record=lambda r: progress.update(bool(r.get("error"))))
            finally:
                progress.close()
    except KeyboardInterrupt:
        click.echo(f"\ndigitscan: interrupted after {summary.done + summary.failed} images; "
                   f"run again with --resume to complete {output}", err=True)
        sys.exit(130)
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    _finish(summary, quiet)


def _finish(summary, quiet: bool) -> None:
    if not quiet:
        click.echo(f"digitscan: {summary.line()}", err=True)
    sys.exit(summary.exit_code)
