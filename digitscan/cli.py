"""The `digitscan` command line. It holds no image logic: every command calls a Scanner.

Commands other than `image` live in their own modules and are imported only when used (or
when `--help` lists them), so that `digitscan image` starts fast.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from .errors import DigitscanError, OutputError

# name -> "module:attribute" of commands kept in their own modules
LAZY_COMMANDS = {
    "webcam": "digitscan.cli_video:webcam",
    "video": "digitscan.cli_video:video",
    "batch": "digitscan.cli_batch:batch",
    "serve": "digitscan.cli_serve:serve",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n in LAZY_COMMANDS if self._load(n) is not None)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("digitscan"):
                return None  # not part of this build
            raise


def fail(error: Exception) -> None:
    """One clear line on stderr for an error; the caller decides whether to go on."""
    click.echo(f"digitscan: error: {error}", err=True)


def build_scanner(model: Path | None, min_confidence: float, max_pixels: int | None = None):
    """Make the Scanner, or exit with one line naming what is wrong with the model."""
    from .read import DEFAULT_MAX_PIXELS
    from .scanner import Scanner

    try:
        return Scanner(model, min_confidence=min_confidence, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    except DigitscanError as exc:
        fail(exc)
        sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digitscan")
def cli() -> None:
    """Find and read handwritten digits in photos, video and folders of images."""


model_option = click.option(
    "--model", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="A .tflite or .keras model file (default: $DIGITSCAN_MODEL, else the shipped model).",
)
# Scanner's MIN_CONFIDENCE and SURE_ALONE, written out: importing the scanner here (OpenCV,
# NumPy) would slow `digitscan --help`.
MIN_CONFIDENCE, SURE_ALONE = 0.2, 0.5
confidence_option = click.option(
    "--min-confidence", type=click.FloatRange(0.0, 1.0), default=MIN_CONFIDENCE, show_default=True,
    help=f"Leave out digits read with less confidence (one under {SURE_ALONE} stands only within a number).",
)


def _output_path(output: Path, photo: Path, many: bool) -> Path:
    if many:
        return output / f"{photo.stem}.annotated.png"
    return output


def _save_debug(folder: Path, photo: Path, result) -> None:
    import numpy as np

    from .outputs import write_image

    folder.mkdir(parents=True, exist_ok=True)
    stem = photo.stem
    write_image(folder / f"{stem}.mask.png", result.trace["mask"])
    write_image(folder / f"{stem}.clean.png", result.trace["clean"])
    crops = result.trace["crops"]
    if len(crops):
        row = np.hstack([np.pad(c[:, :, 0], 1, constant_values=0.5) for c in crops])
        write_image(folder / f"{stem}.crops.png", (row * 255).astype(np.uint8))


@cli.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the annotated image here (a folder when several photos are given).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@confidence_option
@model_option
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse images with more pixels than this (default 120,000,000).")
@click.option("--show-confidence", is_flag=True, help="Write each digit's confidence on the annotated image.")
@click.option("--debug", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Save the ink mask, the cleaned mask and the normalized crops in this folder.")
def image(photos: tuple[Path, ...], output: Path | None, as_json: bool, min_confidence: float,
          model: Path | None, max_pixels: int | None, show_confidence: bool, debug: Path | None) -> None:
    """Read the handwritten numbers in PHOTOS, printed one per line in reading order."""
    from .outputs import same_file, write_image

    many = len(photos) > 1
    if output is not None and many:
        if output.exists() and not output.is_dir():
            raise click.BadParameter("with several photos, --output must be a folder", param_hint="-o")
        output.mkdir(parents=True, exist_ok=True)
    scanner = build_scanner(model, min_confidence, max_pixels)
    status = 0
    for photo in photos:
        try:
            target = _output_path(output, photo, many) if output is not None else None
            if target is not None and (same_file(target, photo) or target.resolve() == photo.resolve()):
                raise OutputError(f"{target}: refusing to overwrite the input image")
            result = scanner.scan(photo, trace=debug is not None)
            if as_json:
                click.echo(json.dumps(result.to_dict()))
            else:
                if many:
                    click.echo(f"==> {photo} <==")
                for text in result.texts:
                    click.echo(text)
            if target is not None:
                write_image(target, result.draw(show_confidence=show_confidence))
            if debug is not None:
                _save_debug(debug, photo, result)
        except DigitscanError as exc:
            fail(exc)
            status = status or exc.exit_code
    sys.exit(status)


def main() -> None:
    cli(prog_name="digitscan")


if __name__ == "__main__":
    main()
