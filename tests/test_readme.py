"""The README is the package index's front page: short, absolute links, a runnable start.

Its benchmark figures, and those of ``benchmarks/README.md``, are rendered by
``python -m benchmarks.publish`` from ``benchmarks/published.json``; a figure
edited by hand fails here.
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import pytest

from benchmarks import publish

ROOT: t.Final = Path(__file__).resolve().parent.parent
README: t.Final = (ROOT / "README.md").read_text()
SOURCE: t.Final = "https://github.com/flask-hybridsession/flask-hybridsession"
DOCS: t.Final = "https://flask-hybridsession.readthedocs.io/"
IMAGES: t.Final = "https://raw.githubusercontent.com/flask-hybridsession/flask-hybridsession/main/"

# [text](target), ![alt](target): the alt text may hold brackets of its own.
MARKDOWN_LINK: t.Final = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)")
REFERENCE: t.Final = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
HTML_LINK: t.Final = re.compile(r"""<(?:a|img)\b[^>]*\b(?:href|src)=["']([^"']+)""", re.I)
FENCE: t.Final = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def prose(text: str) -> str:
    """``text`` without its fenced code blocks: links inside them are not links."""
    return FENCE.sub("", text)


def targets(text: str) -> list[str]:
    text = prose(text)
    return [
        *MARKDOWN_LINK.findall(text),
        *REFERENCE.findall(text),
        *HTML_LINK.findall(text),
    ]


def test_the_readme_is_under_250_lines() -> None:
    assert len(README.splitlines()) < 250


def test_every_link_and_image_is_absolute() -> None:
    found = targets(README)
    assert len(found) >= 10
    for target in found:
        assert target.startswith("https://"), target
        assert target.startswith((SOURCE, DOCS, IMAGES)), target
        if target.startswith(SOURCE + "/blob/"):
            assert target.startswith(SOURCE + "/blob/main/"), target
            path = target.removeprefix(SOURCE + "/blob/main/").split("#")[0]
            assert (ROOT / path).is_file(), target


def test_the_link_checker_sees_relative_links() -> None:
    page = "See [the docs](docs/index.md) and ![a shot](docs/images/x.png).\n```sh\n[a](b)\n```"
    assert targets(page) == ["docs/index.md", "docs/images/x.png"]


def test_the_image_is_the_raw_cart_screenshot_with_alt_text() -> None:
    [(alt, src)] = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", README)
    assert src == IMAGES + "docs/images/shop-cart.png"
    assert (ROOT / "docs" / "images" / "shop-cart.png").is_file()
    assert "cart" in alt and len(alt) > 40


def test_the_docs_pages_linked_exist() -> None:
    for page in re.findall(re.escape(DOCS) + r"en/latest/([\w-]+)\.html", README):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page


def test_the_first_screen_installs_and_starts() -> None:
    first_screen = "\n".join(README.splitlines()[:45])
    lines = [line.split("#")[0].strip() for line in first_screen.splitlines()]
    assert "pip install flask-hybridsession" in lines
    assert "pip install 'flask-hybridsession[login]'" in lines
    assert "pip install 'flask-hybridsession[embedded]'" in lines
    assert "```python" in first_screen
    assert "| flask-hybridsession | Flask-Session" in first_screen
    assert "Flask-JWT-Extended | Flask's cookie session |" in first_screen


def test_the_comparison_covers_what_users_choose_on() -> None:
    table = README.split("## Why this one")[1].split("<!-- bench:")[0]
    for feature in (
        "encrypted payload",
        "log out everywhere",
        "stateless mode",
        "no pickle",
        "session-id rotation on login",
        "key rotation",
        "remember-me revocation",
    ):
        assert feature in table, feature


def test_make_demo_and_make_test_are_there() -> None:
    lines = [line.split("#")[0].strip() for line in README.splitlines()]
    assert "make demo" in lines
    assert "make test" in lines
    assert "PORT=8000 make" in README
    assert "http://127.0.0.1:5000" in README
    assert "HYBRID_SESSION_REDIS_URL" in README


def test_the_example_runs(redis_url: str) -> None:
    [code] = [body for lang, body in FENCE.findall(README) if lang == "python"]
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    assert code.count('"..."') == 1 and code.count('"redis://127.0.0.1:6379/0"') == 1
    code = code.replace('"..."', repr("a secret of at least 32 random bytes, for tests"))
    code = code.replace('"redis://127.0.0.1:6379/0"', repr(redis_url))
    namespace: dict[str, t.Any] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    client = namespace["app"].test_client()
    first = client.post("/cart/tea").json
    second = client.post("/cart/scones").json
    assert second["cart"] == ["tea", "scones"]
    assert first["session_id"] == second["session_id"]
    assert namespace["app"].extensions["hybrid_session"] is namespace["hybrid"]


# The figures: rendered from benchmarks/published.json, never typed.


@pytest.mark.parametrize("page", publish.PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_rendered_figures_match_the_published_json(page: Path) -> None:
    assert publish.differences(page.read_text(), publish.load()) == []


def test_the_readme_shows_the_speed_block() -> None:
    assert "bench:readme-speed" in publish.markers(README)


def test_every_block_and_figure_is_used_somewhere() -> None:
    used = {name for page in publish.PAGES for name in publish.markers(page.read_text())}
    assert {f"bench:{name}" for name in publish.BLOCKS} <= used
    assert {f"fig:{name}" for name in publish.FIGURES} <= used


def test_a_figure_edited_by_hand_is_caught() -> None:
    doc = publish.load()
    page = (ROOT / "benchmarks" / "README.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| A Flask cookie | "))
    edited = page.replace(row, row.replace(" | 1.00 | ", " | 0.99 | ", 1), 1)
    assert edited != page
    assert publish.differences(edited, doc) == ["bench:peers-results"]
    figure = next(publish.FIGURE.finditer(page))
    edited = page.replace(figure.group(0), figure.group(0).replace(figure.group(2), "1.00x"), 1)
    assert publish.differences(edited, doc) == [f"fig:{figure.group(1)}"]


def test_the_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    publish.main(["--check"])  # exits 1 when a page differs
    assert capsys.readouterr().out == ""


def test_halves_round_up_as_a_reader_would() -> None:
    assert publish.fixed(0.835) == "0.84"
    assert publish.fixed(0.666) == "0.67"
    assert publish.fixed(1.022, 3) == "1.022"
    assert publish.fixed(1.0, 1) == "1.0"


def test_publishing_a_fresh_run_takes_its_files_whole(tmp_path: Path) -> None:
    doc = publish.load()
    fresh = json.loads(json.dumps(doc))
    fresh["peers"]["meta"]["date"] = "2030-01-01T00:00:00+00:00"
    for part, name in publish.SOURCES.items():
        (tmp_path / name).write_text(json.dumps(fresh[part]))
    published = publish.publish_from(tmp_path, doc)
    assert published["peers"]["meta"]["date"] == "2030-01-01T00:00:00+00:00"
    assert {part: published[part] for part in publish.SOURCES} == {
        part: fresh[part] for part in publish.SOURCES
    }
    assert "conditions" not in published  # said of the run it replaced
    assert published["commit"]
    for page in publish.PAGES:
        assert "2030-01-01" in publish.render(page.read_text(), published)


def test_publishing_from_an_empty_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"latest\.json"):
        publish.publish_from(tmp_path, publish.load())
