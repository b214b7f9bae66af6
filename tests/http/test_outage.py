"""Redis stopped or unreachable: 503 with Retry-After, no Set-Cookie, then recovery."""

from __future__ import annotations

import collections.abc as cabc
import functools
import logging
import typing as t

import pytest
from flask import Flask
from flask import session

from flask_hybridsession import HybridSession
from flask_hybridsession import StoreUnavailable

from ..conftest import AppFactory
from ..conftest import RedisServer
from ..conftest import build_app
from ..conftest import running
from .support import credential_of


@pytest.fixture()
def own_server() -> cabc.Iterator[RedisServer]:
    with running(functools.partial(RedisServer, persist=True), "hs-outage-") as server:
        yield server


@pytest.mark.parametrize("mode", ["jwt", "server"])
def test_outage_gives_503_then_recovers(
    own_server: RedisServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(mode, HYBRID_SESSION_REDIS_URL=own_server.url, HYBRID_SESSION_RETRY_AFTER=7)
    client = app.test_client()
    client.post("/set/k/v")
    credential = credential_of(client)

    own_server.stop()
    with caplog.at_level(logging.ERROR, logger="flask_hybridsession"):
        for path, method in (("/get/k", "GET"), ("/set/k/w", "POST"), ("/nowhere", "GET")):
            response = client.open(path, method=method)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "7"
            assert "Set-Cookie" not in response.headers
            assert "Cookie" not in response.headers.get("Vary", "")
        bearer = app.test_client().get("/get/k", headers={"Authorization": f"Bearer {credential}"})
        assert bearer.status_code == 503
    assert "unavailable" in caplog.text
    assert credential not in caplog.text

    # A visitor with no credential needs no Redis in jwt mode.
    anonymous = app.test_client().get("/get/k")
    assert anonymous.status_code == 200

    own_server.start()
    recovered = client.get("/get/k")
    assert recovered.status_code == 200
    assert recovered.json is not None
    assert recovered.json["value"] == "'v'"


def test_new_server_session_while_down_is_503_without_cookie(own_server: RedisServer) -> None:
    app = build_app("server", HYBRID_SESSION_REDIS_URL=own_server.url)
    own_server.stop()
    response = app.test_client().post("/set/k/v")
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers
    assert response.headers["Retry-After"] == "5"
    assert b"session store is unavailable" in response.data


def test_method_called_in_view_while_down_is_503(own_server: RedisServer) -> None:
    app = Flask(__name__)

    @app.get("/boom")
    def boom() -> str:
        raise StoreUnavailable(3)

    app.config.update(SECRET_KEY="x" * 32, HYBRID_SESSION_REDIS_URL=own_server.url)
    HybridSession(app)
    response = app.test_client().get("/boom")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"


def test_unreachable_port_fails_fast(own_server: RedisServer) -> None:
    import time

    own_server.stop()
    app = build_app(
        "server", HYBRID_SESSION_REDIS_URL=own_server.url, HYBRID_SESSION_REDIS_TIMEOUT=0.2
    )
    client = app.test_client()
    client.set_cookie("session", "v1." + "A" * 64)
    started = time.monotonic()
    assert client.get("/get/k").status_code == 503
    # Loose bound: a refused connection with one retry and no backoff, not
    # redis-py's default retries with backoff.
    assert time.monotonic() - started < 5


def test_unavailable_response_keeps_nothing_of_the_view(make_app: AppFactory) -> None:
    app = make_app("server")

    @app.post("/go")
    def go() -> t.Any:
        from flask import redirect

        session["k"] = "v"
        response = redirect("/elsewhere")
        response.headers["Cache-Control"] = "public, max-age=600"
        response.set_cookie("other", "x")
        return response

    app.session_interface.backend.client.connection_pool.connection_kwargs["port"] = 1  # type: ignore[attr-defined]
    app.session_interface.backend.client.connection_pool.reset()  # type: ignore[attr-defined]
    response = app.test_client().post("/go")
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_the_first_requests_after_a_restart_are_served(own_server: RedisServer, mode: str) -> None:
    """Every pooled connection died with the server: a read and a write (one
    command, and a pipeline of several) each get a new one, not a 503."""
    app = build_app(mode, HYBRID_SESSION_REDIS_URL=own_server.url)
    client = app.test_client()
    assert client.post("/set/k/v").status_code == 200
    pool = app.session_interface.engine.backend.client.connection_pool  # type: ignore[attr-defined]
    held = [_checked_out(pool) for _ in range(4)]
    for connection in held:
        connection.connect()
        pool.release(connection)

    own_server.stop()
    own_server.start()
    assert client.post("/set/k/w").status_code == 200
    assert client.post("/set/k2/x").status_code == 200
    read = client.get("/get/k")
    assert read.status_code == 200
    assert read.json is not None and read.json["value"] == "'w'"


def _checked_out(pool: t.Any) -> t.Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name
        return pool.get_connection("PING")
