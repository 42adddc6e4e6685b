"""The status board's static files, served from the package so a wheel install has them."""

from __future__ import annotations

from importlib import resources
from typing import Final

from aiohttp import web

from streams.web.problems import ProblemError

_CONTENT_TYPES: Final = {
    "board-text.js": "text/javascript",
    "board.js": "text/javascript",
    "board.css": "text/css",
    "daily-record.css": "text/css",
    "submit.js": "text/javascript",
    "submit.css": "text/css",
}


def _read(name: str) -> bytes:
    return (resources.files("streams.web") / "static" / name).read_bytes()


async def get_board(request: web.Request) -> web.Response:
    return web.Response(body=_read("board.html"), content_type="text/html", charset="utf-8")


async def get_submit_page(request: web.Request) -> web.Response:
    """The daily submission page: it signs in with a token and talks to GET and POST /readings."""
    return web.Response(body=_read("submit.html"), content_type="text/html", charset="utf-8")


async def get_static(request: web.Request) -> web.Response:
    name = request.match_info["filename"]
    content_type = _CONTENT_TYPES.get(name)
    if content_type is None:
        raise ProblemError(404, "not-found", f"no static file named {name!r}")
    return web.Response(body=_read(name), content_type=content_type, charset="utf-8")
