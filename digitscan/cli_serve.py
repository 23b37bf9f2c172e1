"""`digitscan serve`: the web app (draw a digit, upload a photo, JSON API) on uvicorn.

FastAPI and uvicorn are imported inside the command, so that `digitscan --help` stays fast and
works without the `web` extra.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import click

from .cli import build_scanner, confidence_option, fail, model_option


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is one clear line, not a traceback."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the app to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0 picks a free one).")
@model_option
@confidence_option
@click.option("--max-upload-mb", type=click.FloatRange(0.01, 1024), default=25.0, show_default=True,
              help="Refuse uploads larger than this many megabytes (MiB) with HTTP 413.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse images with more pixels than this (default 120,000,000).")
@click.option("--scan-threads", type=click.IntRange(1, 64), default=None,
              help="Scans run at once in worker threads (default: the number of CPUs, at least 2).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True, help="uvicorn's log level (info logs each request).")
def serve(host: str, port: int, model: Path | None, min_confidence: float, max_upload_mb: float,
          max_pixels: int | None, scan_threads: int | None, log_level: str) -> None:
    """Serve the web app: draw a digit at /, read a photo at /scan, JSON API at /api (docs: /docs)."""
    try:
        import uvicorn

        from .web.app import create_app
    except ImportError as exc:
        fail(ImportError(f"the web app needs its extra: pip install 'digitscan[web]' ({exc})"))
        sys.exit(1)

    try:
        sock = _listen(host, port)
    except OSError as exc:
        fail(OSError(f"{host}:{port}: cannot listen ({exc.strerror or exc})"))
        sys.exit(1)
    try:
        scanner = build_scanner(model, min_confidence, max_pixels)
    except SystemExit:
        sock.close()
        raise
    app = create_app(scanner, max_upload_bytes=int(max_upload_mb * 1024 * 1024), scan_threads=scan_threads)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if not _is_loopback(host):
        click.echo(f"digitscan: warning: listening on {host}: anyone who can reach this machine can use "
                   "the app (it has no authentication)", err=True)
    click.echo(f"digitscan: serving on http://{shown}:{bound_port}/ (press Ctrl+C to stop)", err=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=log_level in ("info", "debug"))
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down cleanly and re-raised Ctrl+C: not an error to report
    finally:
        sock.close()
    click.echo("digitscan: stopped", err=True)
