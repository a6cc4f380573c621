"""What a package index shows: URLs, classifiers for every supported Python, the licence, a README
that renders."""

from __future__ import annotations

import re
from importlib.metadata import metadata

import readme_renderer.markdown

from .conftest import ROOT

SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def test_classifiers_name_every_supported_python_and_nothing_older():
    meta = metadata("rfconsole")
    pythons = [c.rsplit(" :: ", 1)[1] for c in meta.get_all("Classifier") or []
               if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert pythons == SUPPORTED
    assert meta["Requires-Python"] == f">={SUPPORTED[0]}"


def test_urls_keywords_and_licence():
    meta = metadata("rfconsole")
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert meta["Keywords"]
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_the_readme_renders_as_an_index_would_show_it():
    meta = metadata("rfconsole")
    assert meta["Description-Content-Type"] == "text/markdown"
    html = readme_renderer.markdown.render(meta.get_payload() or meta["Description"], variant="GFM")
    assert html is not None, "the README does not render"
    assert ">rfconsole<" in html.split("</h1>", 1)[0]
    assert "pipx install" in html
