"""The package keeps the shape docs/modules.md draws: run ``pytest tests/test_layout.py``.

Every module has a row there, imports only what its row allows (imports inside
functions and under ``TYPE_CHECKING`` count), allows only modules of rows above
it (so no import circle), and no module is over 450 lines nor any function over
80. The import graph is read from the source with :mod:`ast`; nothing is imported.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flask_hybridsession"
MAP = ROOT / "docs" / "modules.md"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
ROW = re.compile(r"^\| `([\w.]+)` \| [^|]+ \|(.*)\|$")


def modules() -> dict[str, pathlib.Path]:
    """Dotted names below the package (``stores.jwt``); the package itself is its own name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or PACKAGE.name] = path
    return found


def _target(module: str, path: pathlib.Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        name = node.module or ""
        prefix = PACKAGE.name + "."
        return name.removeprefix(prefix) if name.startswith(prefix) else name
    base = [] if module == PACKAGE.name else module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name.removeprefix(PACKAGE.name + ".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _target(module, path, node)
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
            names.append(base)
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if not name or name == module:
                continue
            # A package re-exporting its own modules is no arrow into them, and
            # a module reaching its siblings through its package none into it.
            inside = module == PACKAGE.name or name.startswith(module + ".")
            if path.name == "__init__.py" and inside:
                continue
            if name == PACKAGE.name or module.startswith(name + "."):
                continue
            found.add(name)
    return found


def table() -> list[tuple[str, set[str]]]:
    rows = []
    for line in MAP.read_text().splitlines():
        match = ROW.match(line)
        if match:
            allowed = set(re.findall(r"`([\w.]+)`", match.group(2)))
            rows.append((match.group(1), allowed))
    return rows


def test_every_module_has_one_row_and_every_row_a_module() -> None:
    names = [name for name, _ in table()]
    assert len(names) == len(set(names)), "a module has two rows"
    assert set(names) == set(modules())


def below(rows: list[tuple[str, set[str]]]) -> dict[str, set[str]]:
    """What each row allows that is not above it: an arrow down, a possible circle."""
    seen: set[str] = set()
    found = {}
    for name, allowed in rows:
        if allowed - seen:
            found[name] = allowed - seen
        seen.add(name)
    return found


def test_rows_allow_only_the_rows_above_them() -> None:
    assert below(table()) == {}


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_only_what_its_row_allows(name: str) -> None:
    found = modules()
    allowed = dict(table()).get(name, set())
    extra = imports(name, found[name], set(found)) - allowed
    assert not extra, f"{name} imports {sorted(extra)}: move the code, or change docs/modules.md"


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_functions_stay_small(name: str) -> None:
    source = modules()[name].read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, name
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = _end_line(node) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{name}:{node.lineno} {node.name} ({length})"


def _end_line(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    assert isinstance(end, int)
    return end


def test_the_check_sees_a_circle_and_a_stray_import(tmp_path: pathlib.Path) -> None:
    """The checks themselves: an arrow down the table, an import no row allows."""
    assert below([("a", set()), ("b", {"c"}), ("c", {"b"})]) == {"b": {"c"}}
    module = tmp_path / "mod.py"
    module.write_text("def f():\n    from .stores import jwt\n")
    assert imports("engine", module, set(modules())) == {"stores", "stores.jwt"}
