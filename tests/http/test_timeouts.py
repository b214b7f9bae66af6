"""Idle and absolute timeouts, on an injected clock (no sleeps)."""

from __future__ import annotations

import typing as t

import pytest

from ..conftest import AppFactory
from ..conftest import with_clock
from ..forging import read_jwt
from .support import credential_of


def _alive(client: t.Any) -> bool:
    return t.cast(bool, client.get("/get/k").json["value"] == "'v'")


def test_absolute_timeout_ends_session_whatever_the_activity(
    make_app: AppFactory, mode: str
) -> None:
    app = make_app(mode, HYBRID_SESSION_ABSOLUTE_TIMEOUT=100, HYBRID_SESSION_IDLE_TIMEOUT=30)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    start = clock.now
    for step in range(1, 7):  # a request every 15 s keeps the idle clock alive
        clock.now = start + 15 * step
        assert _alive(client), step
    clock.now = start + 99
    assert _alive(client)
    clock.now = start + 101
    assert not _alive(client)


def test_idle_timeout_ends_an_inactive_session(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode, HYBRID_SESSION_IDLE_TIMEOUT=60)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    start = clock.now
    clock.now = start + 59
    assert _alive(client)
    clock.now += 61
    assert not _alive(client)


def test_jwt_exp_is_min_of_absolute_and_idle(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_IDLE_TIMEOUT=60, HYBRID_SESSION_ABSOLUTE_TIMEOUT=1000)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    claims = read_jwt(token)[1]
    assert claims["exp"] - claims["iat"] == 60
    assert claims["exp"] == int(clock.now) + 60


def test_jwt_renews_after_half_the_idle_window(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_IDLE_TIMEOUT=60)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    first = credential_of(client)
    clock.now += 20
    assert "Set-Cookie" not in client.get("/get/k").headers  # too early to renew
    clock.now += 15
    response = client.get("/get/k")
    assert "Set-Cookie" in response.headers
    second = credential_of(client)
    old, new = read_jwt(first)[1], read_jwt(second)[1]
    assert new["sid"] == old["sid"]
    assert new["jti"] != old["jti"]
    assert new["exp"] > old["exp"]


def test_jwt_exp_has_no_leeway(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_ABSOLUTE_TIMEOUT=100)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    exp = read_jwt(token)[1]["exp"]
    clock.now = exp - 0.5
    assert _alive(client)
    clock.now = exp
    assert not _alive(client)


def test_absolute_defaults_to_permanent_session_lifetime(make_app: AppFactory, mode: str) -> None:
    import datetime

    app = make_app(mode, PERMANENT_SESSION_LIFETIME=datetime.timedelta(seconds=300))
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    clock.now += 299
    assert _alive(client)
    clock.now += 2
    assert not _alive(client)


@pytest.mark.parametrize("refresh", [True, False])
def test_refresh_each_request_resends_permanent_cookie(
    make_app: AppFactory, mode: str, refresh: bool
) -> None:
    app = make_app(mode, SESSION_REFRESH_EACH_REQUEST=refresh)

    @app.post("/remember")
    def remember() -> str:
        from flask import session

        session.permanent = True
        session["k"] = "v"
        return "ok"

    client = app.test_client()
    client.post("/remember")
    response = client.get("/get/k")
    assert ("Set-Cookie" in response.headers) is refresh
