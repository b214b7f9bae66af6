"""Directives generated from the code, so the docs cannot drift from it.

- ``hybrid-config``: every ``HYBRID_SESSION_*`` key, its default and its
  description, as a definition list, from the table of options
  :data:`flask_hybridsession.config.OPTIONS` (which also makes ``DEFAULTS``
  and ``DESCRIPTIONS``).
- ``hybrid-cli``: the ``--help`` of every ``flask hybrid-session`` command.
- ``benchmarks-figure``: the chart ``make bench`` draws, once
  ``docs/images/benchmarks.png`` exists; a note until then.
"""

from __future__ import annotations

import pathlib
import re
import typing as t

from docutils import nodes
from docutils.parsers.rst import Directive

from flask_hybridsession.config import OPTIONS

if t.TYPE_CHECKING:
    from sphinx.application import Sphinx

_CODE = re.compile(r"`([^`]+)`")


def format_default(value: object) -> str:
    """A default as a Python literal, with double quotes as the docs write them."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(format_default(v) for v in value) + ")"
    return repr(value)


def inline(text: str) -> list[nodes.Node]:
    """Plain text with `backticked` code, the one markup an option's doc line uses."""
    parts: list[nodes.Node] = []
    for i, piece in enumerate(_CODE.split(text)):
        if piece:
            parts.append(nodes.literal(piece, piece) if i % 2 else nodes.Text(piece))
    return parts


class ConfigTable(Directive):
    """``hybrid-config``: key, default and description of every setting.

    A definition list rather than a table: the descriptions hold long code
    (the Redis URL grammar) that a three-column table cannot fit in furo's
    content width, so the table scrolled sideways at 1280 px. Each key is a
    term with its default beside it, and the description gets the full width.
    ``docs/_static/hybrid.css`` styles it.
    """

    has_content = False

    def run(self) -> list[nodes.Node]:
        listing = nodes.definition_list(classes=["hybrid-config"])
        for option in OPTIONS:
            key, text = option.key, format_default(option.default)
            term = nodes.term("", "", ids=[nodes.make_id(key)])
            term += nodes.literal(key, key)
            term += nodes.inline(
                "", "", nodes.Text("default "), nodes.literal(text, text), classes=["default"]
            )
            definition = nodes.definition()
            definition += nodes.paragraph("", "", *inline(option.doc))
            listing += nodes.definition_list_item("", term, definition)
        return [listing]


class CliHelp(Directive):
    """``hybrid-cli``: each command's ``--help``, as click prints it."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import click

        from flask_hybridsession.cli import cli

        found: list[nodes.Node] = []
        for name, command in sorted(cli.commands.items()):
            title = f"flask hybrid-session {name}"
            context = click.Context(command, info_name=title, terminal_width=100)
            found.append(nodes.rubric("", "", nodes.literal(title, title), ids=[f"cli-{name}"]))
            text = command.get_help(context)
            found.append(nodes.literal_block(text, text, language="text"))
        return found


class BenchmarksFigure(Directive):
    """``benchmarks-figure``: the chart of ``make bench``, or a note until it exists."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        source = pathlib.Path(self.state.document.current_source or ".").parent
        image = source / "images" / "benchmarks.png"
        if image.exists():
            figure = nodes.figure()
            figure += nodes.image(uri="images/benchmarks.png", alt="Median time per request")
            figure += nodes.caption("", "Median time per request, by variant (make bench).")
            return [figure]
        note = "The figures come from `make bench`; its chart will be shown here."
        return [nodes.paragraph("", "", *inline(note))]


def setup(app: Sphinx) -> dict[str, t.Any]:
    app.add_directive("hybrid-config", ConfigTable)
    app.add_directive("hybrid-cli", CliHelp)
    app.add_directive("benchmarks-figure", BenchmarksFigure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
