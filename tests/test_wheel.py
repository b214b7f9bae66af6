"""The built wheel installs into a clean venv, imports and serves a session.

It builds the wheel as ``make dist`` does, installs it with pip into a new venv
that sees none of this checkout (no ``--system-site-packages``, run from a
temporary folder), and drives a tiny jwt-mode app through the test client.
About 30 s, most of it pip installing the dependencies.
"""

from __future__ import annotations

import email.parser
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

import flask_hybridsession

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: What pip says when it has neither a network nor a cache to install from.
OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
)

APP = textwrap.dedent(
    """
    import sys

    import flask_hybridsession
    from flask import Flask, session
    from flask_hybridsession import HybridSession

    # Imported from the venv, not from the checkout.
    assert "site-packages" in flask_hybridsession.__file__, flask_hybridsession.__file__

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a wheel-test secret of at least 32 bytes",
        HYBRID_SESSION_REVOCATION=False,
    )
    HybridSession(app)


    @app.post("/add/<item>")
    def add(item):
        session["cart"] = [*session.get("cart", []), item]
        return {"cart": session["cart"]}


    client = app.test_client()
    client.post("/add/apple")
    assert client.post("/add/pear").json == {"cart": ["apple", "pear"]}
    print(flask_hybridsession.__version__)
    """
)


def build(dist: pathlib.Path, kind: str) -> None:
    """``python -m build`` of the checkout, as ``make dist`` runs it (needs PyPI or its cache)."""
    built = subprocess.run(
        [sys.executable, "-m", "build", kind, "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if built.returncode != 0 and any(sign in built.stdout + built.stderr for sign in OFFLINE):
        pytest.skip("the build backend cannot be installed: no index and no cache")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]


def lock_constraints(folder: pathlib.Path) -> list[str]:
    """pip's ``-c`` for the versions of uv.lock, so the wheel meets what CI tested.

    Empty where uv is not installed beside the checkout (``make`` puts it in .tools).
    """
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        return []
    exported = subprocess.run(
        [str(uv), "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-extras"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    constraints = folder / "constraints.txt"
    constraints.write_text(exported.stdout)
    return ["--constraint", str(constraints)]


@pytest.mark.wheel
def test_wheel_installs_into_a_clean_venv(tmp_path: pathlib.Path) -> None:
    dist = tmp_path / "dist"
    build(dist, "--wheel")
    [wheel] = dist.glob("flask_hybridsession-*.whl")
    assert wheel.name.startswith(f"flask_hybridsession-{flask_hybridsession.__version__}-")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    installed = subprocess.run(
        [*pip, *lock_constraints(tmp_path), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if installed.returncode != 0 and any(sign in installed.stderr for sign in OFFLINE):
        pytest.skip("pip cannot reach an index and has no cache of the dependencies")
    assert installed.returncode == 0, installed.stderr
    if lock_constraints(tmp_path):
        # The libraries are the lock's, not whatever the index has newest.
        shown = subprocess.run(
            [str(python), "-m", "pip", "show", "flask", "pyjwt", "redis", "cryptography"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        ).stdout
        locked = (tmp_path / "constraints.txt").read_text()
        found = re.findall(r"^Name: (\S+)\nVersion: (\S+)$", shown, re.MULTILINE)
        assert len(found) == 4, shown
        for name, version in found:
            assert f"{name.lower()}=={version}" in locked, (name, version)

    script = tmp_path / "app.py"
    script.write_text(APP)
    ran = subprocess.run(
        [str(python), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == flask_hybridsession.__version__


@pytest.mark.wheel
def test_wheel_metadata_names_the_license_and_the_project_urls(tmp_path: pathlib.Path) -> None:
    """What ``pip show`` and the package index show: the license and four links."""
    dist = tmp_path / "dist"
    build(dist, "--wheel")
    [wheel] = dist.glob("flask_hybridsession-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
        packages = {n.split("/")[0] for n in archive.namelist() if "dist-info" not in n}
    assert metadata["License-Expression"] == "BSD-3-Clause"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert sorted(urls) == ["Changelog", "Documentation", "Issues", "Source"]
    assert all(url.startswith("https://") for url in urls.values())
    # The wheel is the package alone: no tests, docs or example beside it.
    assert packages == {"flask_hybridsession"}


@pytest.mark.wheel
def test_the_test_suite_runs_from_the_unpacked_sdist(tmp_path: pathlib.Path) -> None:
    dist = tmp_path / "dist"
    build(dist, "--sdist")
    [sdist] = dist.glob("flask_hybridsession-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / sdist.name.removesuffix(".tar.gz")
    for needed in ("CHANGELOG.md", "SECURITY.md", "LICENSE", "uv.lock", "tests/conftest.py"):
        assert (root / needed).is_file(), needed
    assert (root / "tests" / "security").is_dir()
    assert (root / "tests" / "docs_snippets").is_dir()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest_args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    # Every test module imports and every test is collected, from the sdist's own code...
    collected = subprocess.run(
        [*pytest_args, "--collect-only"],
        cwd=root, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-3000:]
    assert "error" not in collected.stdout.splitlines()[-1], collected.stdout[-3000:]
    # ...and a part of the suite that needs Redis, the docs and the example passes there.
    probe = "import flask_hybridsession, sys; print(flask_hybridsession.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, env=env
    )
    assert where.stdout.strip() == str(root / "flask_hybridsession" / "__init__.py")
    part = [
        "tests/http/test_session_contract.py",
        "tests/test_docs.py",
        "tests/test_example_shop.py",
    ]
    ran = subprocess.run(
        [*pytest_args, *part], cwd=root, capture_output=True, text=True, timeout=300, env=env
    )
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert " passed" in ran.stdout.splitlines()[-1]
