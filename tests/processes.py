"""Real processes for the tests of the embedded Redis and the demo (issue 15).

The demo (``python -m example_app``) and ``flask run`` served in a subprocess
on a free loopback port; the redis-server processes an instance folder runs;
an in-process app on the embedded Redis, and stopping that Redis again.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import typing as t
import urllib.request

import pytest
from flask import Flask

from flask_hybridsession import HybridSession
from flask_hybridsession.extension import release

from .conftest import SECRET
from .conftest import add_k_routes

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: What a clean stop must never print.
ALARMING = ("shutdown failed", "Exception ignored", "Traceback", "sending sigterm")
#: Bounds of every wait of these tests (s).
START_WAIT = 30.0
STOP_WAIT = 15.0


def redis_servers_in(folder: pathlib.Path | str) -> list[int]:
    """The running redis-server processes whose working folder is ``folder``.

    The embedded server runs in the instance folder (its database's folder),
    so this finds it whoever its parent is, and nobody else's servers.
    """
    wanted = os.path.realpath(folder)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if b"redis-server" not in cmdline.read():
                    continue
            if os.path.realpath(os.readlink(f"/proc/{entry}/cwd")) == wanted:
                found.append(int(entry))
        except OSError:  # gone, or a zombie
            continue
    return found


def wait_gone(pids: list[int], timeout: float = STOP_WAIT) -> list[int]:
    """Wait until none of ``pids`` runs; the ones still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if os.path.exists(f"/proc/{pid}/cwd")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def no_server_left(folder: pathlib.Path) -> cabc.Iterator[pathlib.Path]:
    """Yield ``folder``, then fail if a redis-server still runs in it (and kill it)."""
    yield folder
    left = redis_servers_in(folder)
    for pid in left:  # a failed test must not leak a server
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # The socket's folder that a killed app could not remove (the next start
    # in this instance folder would): not left in /tmp by the tests.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        socket = json.loads((folder / "hybrid_session.server").read_text()).get("socket")
        if socket and os.path.basename(os.path.dirname(socket)).startswith("hybrid-session-redis-"):
            shutil.rmtree(os.path.dirname(socket), ignore_errors=True)
    assert not left, f"redis-server {left} left running in {folder}"


def app_env(**extra: str) -> dict[str, str]:
    """The environment of a demo or ``flask`` subprocess: no Redis URL, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_SESSION_", "FLASK_"))}
    env.pop("SECRET_KEY", None)
    env.pop("PORT", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclasses.dataclass
class Served:
    """An app serving in a subprocess, its output going to files."""

    process: subprocess.Popen[bytes]
    port: int
    out: pathlib.Path
    err: pathlib.Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def get(self, path: str) -> int:
        with urllib.request.urlopen(self.base + path, timeout=10) as answer:  # noqa: S310
            return int(answer.status)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"exited with {self.process.returncode}:\n{self.stderr()}")
            with contextlib.suppress(OSError):
                if self.get("/healthz") == 200:
                    return
            time.sleep(0.1)
        pytest.fail(f"no answer on {self.base} within {START_WAIT}s:\n{self.stderr()}")

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_WAIT)
            pytest.fail(f"still running {STOP_WAIT}s after signal {signum}:\n{self.stderr()}")


@contextlib.contextmanager
def serve(command: list[str], cwd: pathlib.Path, port: int, **env: str) -> cabc.Iterator[Served]:
    out, err = cwd / f"out-{port}.txt", cwd / f"err-{port}.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=cwd, env=app_env(PORT=str(port), **env), stdout=stdout, stderr=stderr
        )
    served = Served(process, port, out, err)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_WAIT)


def demo(cwd: pathlib.Path, port: int, **env: str) -> contextlib.AbstractContextManager[Served]:
    return serve([sys.executable, "-m", "example_app"], cwd, port, **env)


def flask_run(
    cwd: pathlib.Path, port: int, **env: str
) -> contextlib.AbstractContextManager[Served]:
    command = [sys.executable, "-m", "flask", "--app", "example_app", "run", "--port", str(port)]
    return serve(command, cwd, port, **env)


def use_redis(served: Served) -> None:
    """A request that needs Redis: the login page's CSRF token, saved in server mode."""
    assert served.get("/login") == 200


def assert_stopped(pid: int | None) -> None:
    """The embedded redis-server ``pid`` exits, not left running after the test."""
    assert pid
    assert wait_gone([pid], 10) == [], f"the embedded redis-server (pid {pid}) still runs"


def embedded_app(instance: pathlib.Path | str, **config: t.Any) -> Flask:
    """An app on the embedded Redis (no URL) in ``instance``: server mode unless ``config``
    says otherwise, with :func:`~tests.conftest.add_k_routes`."""
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_MODE="server")
    app.config.update(config)
    HybridSession(app)
    add_k_routes(app)

    return app


def stop_embedded(app: Flask) -> int | None:
    """Stop the embedded Redis ``app`` started, as the app's exit would; its pid, if it ran."""
    interface = app.session_interface
    pid: int | None = interface.engine.keepalive.pid  # type: ignore[attr-defined]
    release(interface.backend.client, interface.engine.keepalive)  # type: ignore[attr-defined]
    return pid
