"""Hygiene checks on the source (HS-35, HS-38): read by the AST, not by grep.

- no ``pickle``, ``marshal``, ``shelve``, ``dill`` or ``yaml.load`` in the package;
- no ``verify_signature`` turned off, no ``algorithms=None``, and no
  ``get_unverified_header`` (the kid is read from the header segment itself);
- every ``jwt.decode`` / ``jwt.decode_complete`` call passes ``algorithms=``;
- the dependency floors (``pyjwt[crypto]>=2.13``, ``flask>=3.1.3``) are
  declared in pyproject.toml and met by what is installed.

Each scanner is first run on a snippet that breaks its rule, so a scanner
that sees nothing cannot pass silently.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import pathlib
import re
import tomllib
import typing as t

import pytest

ROOT: t.Final = pathlib.Path(__file__).resolve().parents[2]
PACKAGE: t.Final = ROOT / "flask_hybridsession"
#: Where the rules apply: the package, and the example app users copy from.
SCANNED: t.Final = (PACKAGE, ROOT / "example_app")

UNSAFE_MODULES: t.Final = frozenset({"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill"})
UNSAFE_YAML: t.Final = frozenset(
    {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load"}
)
DECODERS: t.Final = frozenset({"decode", "decode_complete"})


@dataclasses.dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def scan(source: str, path: str = "<snippet>") -> list[Finding]:
    """Every rule broken in ``source``."""
    tree = ast.parse(source, path)
    found: list[Finding] = []
    #: Local names bound to the jwt module or its decoders.
    jwt_names = {"jwt"}
    decoder_names: set[str] = set()

    def add(node: ast.AST, rule: str) -> None:
        found.append(Finding(path, getattr(node, "lineno", 0), rule))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in UNSAFE_MODULES:
                    add(node, f"import {alias.name}")
                if alias.name == "jwt":
                    jwt_names.add(alias.asname or "jwt")
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in UNSAFE_MODULES:
                add(node, f"from {node.module} import")
            if module == "yaml" and any(a.name in UNSAFE_YAML for a in node.names):
                add(node, "from yaml import load")
            if module == "jwt":
                for alias in node.names:
                    if alias.name in DECODERS:
                        decoder_names.add(alias.asname or alias.name)
                    if alias.name == "get_unverified_header":
                        add(node, "get_unverified_header")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, attr = name.rpartition(".")
            if head.split(".")[0] in UNSAFE_MODULES:
                add(node, f"call {name}")
            if head == "yaml" and attr in UNSAFE_YAML:
                add(node, f"call {name}")
            if name in ("__import__", "importlib.import_module") and any(
                isinstance(a, ast.Constant) and str(a.value).split(".")[0] in UNSAFE_MODULES
                for a in node.args
            ):
                add(node, f"dynamic import in {name}")
            if attr == "get_unverified_header" or name == "get_unverified_header":
                add(node, "get_unverified_header")
            is_decoder = (head in jwt_names and attr in DECODERS) or name in decoder_names
            keywords = {k.arg: k.value for k in node.keywords}
            if is_decoder:
                algorithms = keywords.get("algorithms")
                if algorithms is None and None not in keywords:
                    add(node, f"{name} without algorithms=")
            if "algorithms" in keywords:
                value = keywords["algorithms"]
                if isinstance(value, ast.Constant) and value.value is None:
                    add(node, "algorithms=None")
            if "verify_signature" in keywords:
                value = keywords["verify_signature"]
                if not (isinstance(value, ast.Constant) and value.value is True):
                    add(node, "verify_signature not True")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "verify_signature":
                    if not (isinstance(value, ast.Constant) and value.value is True):
                        add(node, "verify_signature not True")
    return found


def sources() -> list[pathlib.Path]:
    files = [path for folder in SCANNED for path in sorted(folder.rglob("*.py"))]
    assert len(files) > 10
    return files


BAD_SNIPPETS: t.Final = {
    "import pickle": "import pickle\n",
    "from pickle import loads": "from pickle import loads\n",
    "marshal call": "import marshal as m\nmarshal.loads(b'')\n",
    "shelve": "import shelve\n",
    "yaml.load": "import yaml\nyaml.load(s)\n",
    "yaml.unsafe_load": "yaml.unsafe_load(s)\n",
    "from yaml import load": "from yaml import load\n",
    "dynamic import": "__import__('pickle')\n",
    "verify_signature dict": "jwt.decode(t, k, algorithms=[a], options={'verify_signature': 0})",
    "verify_signature keyword": "x(verify_signature=False)\n",
    "decode without algorithms": "jwt.decode(t, k)\n",
    "decode_complete without algorithms": "import jwt as j\nj.decode_complete(t, k)\n",
    "from jwt import decode": "from jwt import decode as d\nd(t, k)\n",
    "algorithms None": "jwt.decode(t, k, algorithms=None)\n",
    "get_unverified_header": "jwt.get_unverified_header(t)\n",
}


@pytest.mark.parametrize("name", list(BAD_SNIPPETS))
def test_hygiene_scanner_catches(name: str) -> None:
    assert scan(BAD_SNIPPETS[name]), name


def test_hygiene_scanner_passes_good_code() -> None:
    good = "import jwt\njwt.decode(t, k, algorithms=['HS256'], options={'require': ['exp']})\n"
    assert scan(good) == []


def test_hs38_no_pickle_marshal_shelve_or_yaml_load() -> None:
    findings = [
        f
        for path in sources()
        for f in scan(path.read_text(), str(path.relative_to(ROOT)))
        if not f.rule.startswith(("jwt", "algorithms", "verify", "get_unverified"))
        and "without algorithms" not in f.rule
    ]
    assert findings == []


def test_hs35_no_signature_bypass_and_algorithms_always_explicit() -> None:
    findings = [f for path in sources() for f in scan(path.read_text(), str(path))]
    assert findings == []
    # The scan does see the package's decode call (and it passes algorithms=).
    decode_calls = [
        node
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and _dotted(node.func) in ("jwt.decode", "jwt.decode_complete")
    ]
    assert decode_calls
    assert all(any(k.arg == "algorithms" for k in call.keywords) for call in decode_calls)


def test_hs35_no_verify_signature_anywhere_in_the_package_text() -> None:
    """Belt and braces: the option's name appears nowhere in the package."""
    for path in PACKAGE.rglob("*.py"):
        assert "verify_signature" not in path.read_text(), path


# Dependency floors.

FLOORS: t.Final = {"pyjwt": (2, 13), "flask": (3, 1, 3)}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, str] = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", requirement)
        assert match is not None, requirement
        found[match.group(1).lower()] = requirement
    return found


@pytest.mark.parametrize("name", list(FLOORS))
def test_hs35_dependency_floor_declared(name: str) -> None:
    requirement = _declared()[name]
    floor = re.search(r">=\s*([0-9.]+)", requirement)
    assert floor is not None, requirement
    assert _version_tuple(floor.group(1)) >= FLOORS[name], requirement
    if name == "pyjwt":
        assert "crypto" in requirement


@pytest.mark.parametrize("name", list(FLOORS))
def test_hs35_installed_versions_meet_the_floors(name: str) -> None:
    installed = importlib.metadata.version(name)
    assert _version_tuple(installed) >= FLOORS[name], installed
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip and pytest
        return
    requirement = Requirement(_declared()[name])
    assert requirement.specifier.contains(installed, prereleases=True)
