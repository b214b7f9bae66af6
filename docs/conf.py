"""Sphinx configuration: furo, Markdown pages (MyST) and autodoc.

``make docs`` builds with ``-W --keep-going``: every warning fails the build.
Nothing here reaches the network (no intersphinx).
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import flask_hybridsession  # noqa: E402

project = "flask-hybridsession"
author = "flask-hybridsession developers"
copyright = "2026, flask-hybridsession developers"
release = flask_hybridsession.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "hybrid_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Anchors for ## and ### headings, so pages can link to sections.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

html_theme = "furo"
html_title = f"flask-hybridsession {release}"
# hybrid.css lays out the configuration reference (docs/_ext/hybrid_docs.py).
html_static_path = ["_static"]
html_css_files = ["hybrid.css"]
