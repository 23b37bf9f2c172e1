"""The digitscan web app: draw a digit, upload a photo, or call the JSON API.

Needs the `web` extra (FastAPI, uvicorn, python-multipart). Start it with `digitscan serve`, or
build the ASGI app yourself:

>>> from digitscan.web import create_app  # doctest: +SKIP
>>> app = create_app()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the ASGI app; see :func:`digitscan.web.app.create_app` (imported on first use)."""
    from .app import create_app as build

    return build(*args, **kwargs)


__all__ = ["create_app"]
