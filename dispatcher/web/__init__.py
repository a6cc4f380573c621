"""The web dashboard: the page at `/` and its static files under `/web/`, same origin as the API.

Everything the page loads comes from this blueprint (no CDN, relative URLs, so it
works air-gapped and through SSH port forwarding): its own HTML, CSS and
JavaScript modules in `static/`, and the uPlot chart library from the installed
`uplot-python` package's data, found without importing that package. Every
answer carries a Content-Security-Policy allowing only this origin, `nosniff`,
and no cookie.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, request
from werkzeug.security import safe_join

from ..errors import ApiError

STATIC = Path(__file__).resolve().parent / "static"
# The files of the uplot-python wheel the page uses (uPlot itself, MIT licensed).
VENDOR_FILES = {"uPlot.iife.js": "text/javascript", "uPlot.min.css": "text/css"}
MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# What the token gate lets through: the page must load before it can ask for the token.
OPEN_ENDPOINTS = frozenset({"web.index", "web.asset", "web.vendor"})

web = Blueprint("web", __name__)


@cache
def uplot_folder() -> Path | None:
    """Where the installed uplot-python keeps uPlot's files (None when it is not installed).

    find_spec of a top-level name locates it without running its `__init__`,
    which would import numpy and IPython for nothing.
    """
    spec = importlib.util.find_spec("uplot")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "uPlot.iife.js").is_file() else None


@web.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-cache"
    return response


def _send(folder: Path, name: str, mimetype: str) -> Response:
    """The file's bytes (small files: no open file is left to the server), with an ETag (304)."""
    path = safe_join(str(folder), name)
    if path is None or not Path(path).is_file():
        raise ApiError(404, f"The web dashboard has no file {name!r}.")
    response = Response(Path(path).read_bytes(), mimetype=mimetype)
    response.add_etag()
    response.make_conditional(request)  # a 304 when If-None-Match holds the tag (in place)
    return response


@web.get("/")
def index() -> Response:
    return _send(STATIC, "index.html", "text/html")


@web.get("/web/<name>")
def asset(name: str) -> Response:
    mimetype = MIMETYPES.get(Path(name).suffix)
    if mimetype is None:
        raise ApiError(404, f"The web dashboard has no file {name!r}.")
    return _send(STATIC, name, mimetype)


@web.get("/web/vendor/<name>")
def vendor(name: str) -> Response:
    folder = uplot_folder()
    if name not in VENDOR_FILES:
        raise ApiError(404, f"The web dashboard has no file vendor/{name!r}.")
    if folder is None:
        raise ApiError(404, "The charts need the uplot-python package; install it beside rfconsole.")
    return _send(folder, name, VENDOR_FILES[name])
