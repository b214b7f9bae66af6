"""The built wheel installs into a clean venv, imports and serves a session.

It builds the wheel as ``make dist`` does, installs it with pip into a new venv
that sees none of this checkout (no ``--system-site-packages``, run from a
temporary folder), and drives a tiny jwt-mode app through the test client.
About 30 s, most of it pip installing the dependencies.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

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


@pytest.mark.wheel
def test_wheel_installs_into_a_clean_venv(tmp_path: pathlib.Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = dist.glob("flask_hybridsession-*.whl")
    assert wheel.name.startswith(f"flask_hybridsession-{flask_hybridsession.__version__}-")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if installed.returncode != 0 and any(sign in installed.stderr for sign in OFFLINE):
        pytest.skip("pip cannot reach an index and has no cache of the dependencies")
    assert installed.returncode == 0, installed.stderr

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
