"""The docs cannot drift from the code: every setting documented, every page there.

The Python snippets of the docs live in ``tests/docs_snippets/`` and are
included into the pages with ``literalinclude``; the tests below run them.
"""

from __future__ import annotations

import pathlib
import re

from flask_hybridsession.config import DEFAULTS
from flask_hybridsession.config import DESCRIPTIONS

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
SNIPPETS = pathlib.Path(__file__).resolve().parent / "docs_snippets"

#: Keys described ahead of the code that brings them into DEFAULTS (the jwt
#: token cache of the main branch). Empty once that code is merged, and the
#: check below is then exactly DESCRIPTIONS.keys() == DEFAULTS.keys().
UPCOMING = {"HYBRID_SESSION_TOKEN_CACHE"} - DEFAULTS.keys()


def test_every_setting_has_a_description_and_no_description_is_stray() -> None:
    assert DESCRIPTIONS.keys() - UPCOMING == DEFAULTS.keys()


def test_descriptions_use_only_backticks_for_markup() -> None:
    for key, text in DESCRIPTIONS.items():
        assert text.count("`") % 2 == 0, key
        assert "``" not in text and "|" not in text and text.strip() == text, key
        assert text.endswith("."), key


def toctree_pages() -> list[str]:
    index = (DOCS / "index.md").read_text()
    pages = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.DOTALL):
        pages += [line.strip() for line in block.splitlines() if line.strip() and ":" not in line]
    return pages


def test_every_page_of_the_toctree_exists() -> None:
    pages = toctree_pages()
    assert len(pages) >= 15
    for page in pages:
        assert (DOCS / f"{page}.md").is_file(), page


def test_every_page_is_in_the_toctree() -> None:
    on_disk = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert on_disk == set(toctree_pages())


def test_python_in_the_docs_comes_from_tested_snippets() -> None:
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        assert "```python" not in text and "```{code-block} python" not in text, page.name
        for included in re.findall(r"```\{literalinclude\} (\S+)", text):
            assert (DOCS / included).resolve().is_file(), (page.name, included)
