"""The dependency ranges are honest: their floors are what the matrix installs.

``make lock`` compiles ``requirements/lowest.txt`` with uv's lowest-direct
resolution and ``tools/matrix`` runs the suite on it. A floor raised in
``pyproject.toml`` without ``make lock``, or a lock edited by hand, fails here.
"""

from __future__ import annotations

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9][0-9A-Za-z.]*)")


def floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, str] = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["login"]]:
        match = REQUIREMENT.match(requirement)
        assert match, f"{requirement!r} has no >= floor"
        found[match[1].lower()] = match[2]
    return found


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements" / "lowest.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith(" "))


def release(version: str) -> tuple[int, ...]:
    numbers = tuple(int(part) for part in version.split("."))
    return numbers + (0,) * (3 - len(numbers))


def test_every_runtime_floor_is_what_the_lowest_row_installs() -> None:
    found, pinned = floors(), pins()
    assert set(found) == {"flask", "redis", "pyjwt", "cryptography", "flask-login"}
    for name, floor in found.items():
        assert release(pinned[name]) == release(floor), (name, floor, pinned[name])


def test_the_lowest_lock_is_for_the_oldest_python_we_claim() -> None:
    header = (ROOT / "requirements" / "lowest.txt").read_text()
    assert "--resolution lowest-direct --python-version 3.11" in header
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    claimed = [c.rsplit(" ", 1)[1] for c in classifiers if re.search(r"Python :: 3\.\d+$", c)]
    assert claimed == ["3.11", "3.12", "3.13"]
