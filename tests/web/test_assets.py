"""The dashboard's files: served at / and /web/, same origin, with a strict CSP, nosniff and no
cookie, open without the token (the page must load to ask for it), small, and never a path
outside its folder."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest
import requests
from rfconsole.console.launch import dispatcher_thread
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.web import STATIC

PAGE_FILES = ["index.html", "app.js", "api.js", "poller.js", "runs.js", "detail.js", "clone.js", "ops.js",
              "logs.js", "filter.js", "format.js", "schema.js", "style.css", "favicon.svg"]


@pytest.fixture
def client(store: Store):
    return create_app(store, token="s3cret").test_client()


def test_page_and_files_are_served_with_security_headers(client):
    for url, mimetype in [("/", "text/html"), ("/web/app.js", "text/javascript"),
                          ("/web/style.css", "text/css"), ("/web/vendor/uPlot.iife.js", "text/javascript"),
                          ("/web/vendor/uPlot.min.css", "text/css")]:
        response = client.get(url)  # no token: the page asks for it once loaded
        assert response.status_code == 200, url
        assert response.mimetype == mimetype, url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in response.headers
        response.close()


def test_page_files_are_revalidated_with_etags(client):
    first = client.get("/web/app.js")
    again = client.get("/web/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_the_api_still_needs_the_token_and_server_info_does_not(client):
    assert client.get("/dispatcher/get-all-runs").status_code == 401
    info = client.get("/dispatcher/get-server-info")
    assert info.status_code == 200
    assert info.json["token_required"] is True
    assert info.json["readonly"] is False
    assert isinstance(info.json["version"], str)


def test_server_info_reports_readonly(store):
    info = create_app(store, readonly=True).test_client().get("/dispatcher/get-server-info").json
    assert info == {"readonly": True, "token_required": False, "version": info["version"]}


@pytest.mark.parametrize("url", ["/web/../app.py", "/web/..%2F__init__.py", "/web/nothing.js", "/web/__init__.py",
                                 "/web/vendor/plot.py", "/web/vendor/..%2F__init__.py"])
def test_nothing_outside_the_page_files_is_served(store, url):
    response = create_app(store).test_client().get(url)
    assert response.status_code == 404
    assert "error" in response.json


def test_page_loads_only_relative_same_origin_urls_and_no_inline_code():
    html = (STATIC / "index.html").read_text()
    assert "<script>" not in html, "inline scripts are blocked by the CSP"
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the CSP"
    assert not re.search(r"<style", html)
    assert not re.search(r"\sstyle=", html)
    for name in PAGE_FILES:
        text = (STATIC / name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in text, name
        assert "innerHTML" not in text, f"{name} builds markup from strings"
        assert "eval(" not in text, name
        assert "new Function" not in text, name
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not src.startswith(("/", "http")), f"{src} is not a relative URL"


def test_page_code_stays_small():
    total = sum(path.stat().st_size for path in Path(STATIC).iterdir() if path.suffix in {".js", ".css", ".html"})
    assert total < 100 * 1024, f"the page's own files are {total} bytes"


def test_the_production_wsgi_app_and_the_console_thread_serve_the_page(db_path, monkeypatch):
    monkeypatch.setenv("RFCONSOLE_DB", str(db_path))
    wsgi = importlib.reload(importlib.import_module("rfconsole.dispatcher.wsgi"))
    response = wsgi.app.test_client().get("/")
    assert response.status_code == 200
    assert b'<script type="module" src="web/app.js">' in response.data
    response.close()
    wsgi.app.extensions["rfconsole"].store.close()


def test_console_readonly_reaches_the_page(store):
    args = argparse.Namespace(host="127.0.0.1", port=0, token=None, insecure=False, readonly=True)
    with dispatcher_thread(store, args) as (url, error):
        assert error is None
        assert requests.get(f"{url}/dispatcher/get-server-info", timeout=10).json()["readonly"] is True
        page = requests.get(f"{url}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["X-Content-Type-Options"] == "nosniff"
