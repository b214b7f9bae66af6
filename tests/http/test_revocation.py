"""Logout, revocation lists, revoke and log out everywhere: an ended session never opens again."""

from __future__ import annotations

import pytest
import redis
from flask import Flask

from flask_hybridsession import signals
from flask_hybridsession.testing import redis_keys

from ..conftest import AppFactory
from ..conftest import with_clock
from .support import EVENTS
from .support import credential_of
from .support import record
from .support import replay


@pytest.mark.parametrize("bearer", [False, True], ids=["cookie", "bearer"])
def test_logout_ends_the_token_for_replay(login_app: Flask, bearer: bool) -> None:
    client = login_app.test_client()
    headers = {"X-Session-Token": "new"} if bearer else {}
    response = client.post("/login/alice", headers=headers)
    credential = response.headers["X-Session-Token"] if bearer else credential_of(client)
    assert replay(login_app, credential, bearer=bearer).text == "alice"
    if bearer:
        out = login_app.test_client().post(
            "/logout", headers={"Authorization": f"Bearer {credential}"}
        )
        assert "Set-Cookie" not in out.headers
    else:
        out = client.post("/logout")
        assert "session=;" in out.headers["Set-Cookie"]
    assert replay(login_app, credential, bearer=bearer).status_code == 401


def test_logout_on_one_worker_is_seen_by_another(make_login_app: AppFactory, mode: str) -> None:
    first, second = make_login_app(mode), make_login_app(mode)
    client = first.test_client()
    client.post("/login/alice")
    credential = credential_of(client)
    assert replay(second, credential).text == "alice"
    client.post("/logout")
    assert replay(second, credential).status_code == 401


def test_logout_method_clears_and_ends_in_every_form(make_login_app: AppFactory, mode: str) -> None:
    app = make_login_app(mode)

    @app.post("/hybrid-logout")
    def hybrid_logout() -> str:
        app.extensions["hybrid_session"].logout()
        return "ok"

    client = app.test_client()
    client.post("/login/alice?remember=1")
    client.post("/set/cart/x")
    credential = credential_of(client)
    response = client.post("/hybrid-logout")
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=;") for c in cookies)
    assert client.get("/me").status_code == 401
    assert client.get("/get/cart").json["value"] == "None"
    assert replay(app, credential).status_code == 401


def test_revoke_user_ends_every_device_and_no_other_user(
    make_login_app: AppFactory, rdb: redis.Redis
) -> None:
    jwt_app, server_app = make_login_app("jwt"), make_login_app("server")
    devices = []
    for app in (jwt_app, server_app, jwt_app):
        client = app.test_client()
        client.post("/login/alice")
        devices.append((app, credential_of(client)))
    bearer = jwt_app.test_client().post("/login/alice", headers={"X-Session-Token": "new"})
    bearer_token = bearer.headers["X-Session-Token"]
    bob = server_app.test_client()
    bob.post("/login/bob")

    admin = jwt_app.test_client()
    admin.set_cookie("session", devices[0][1])
    assert admin.post("/logout-all").text == "4"
    for app, credential in devices:
        assert replay(app, credential).status_code == 401
    assert replay(jwt_app, bearer_token, bearer=True).status_code == 401
    assert bob.get("/me").text == "bob"
    # A new login after the call works.
    again = jwt_app.test_client()
    again.post("/login/alice")
    assert again.get("/me").text == "alice"


def test_revoke_user_kills_an_unindexed_jwt_by_generation(
    make_login_app: AppFactory, rdb: redis.Redis
) -> None:
    app = make_login_app("jwt")
    client = app.test_client()
    client.post("/login/alice")
    credential = credential_of(client)
    for key in rdb.scan_iter("hs:{u:*}:i"):
        rdb.delete(key)  # the index is lost: the generation still ends it
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 0
    assert replay(app, credential).status_code == 401


def test_revoke_user_counts_only_live_sessions(make_login_app: AppFactory) -> None:
    app = make_login_app("jwt", HYBRID_SESSION_ABSOLUTE_TIMEOUT=100)
    clock = with_clock(app)
    app.test_client().post("/login/alice")
    clock.now += 50
    app.test_client().post("/login/alice")
    clock.now += 60  # the first session is past its deadline
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 1


def test_revoke_user_sends_one_signal_per_session(make_login_app: AppFactory) -> None:
    app = make_login_app("server")
    for _ in range(3):
        app.test_client().post("/login/alice")
    EVENTS.clear()
    with signals.session_revoked.connected_to(record, app), app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 3
        assert app.extensions["hybrid_session"].revoke_user("alice") == 0
    assert [e[0] for e in EVENTS] == ["revoke_user"] * 3


def test_regenerate_keeps_the_session_indexed(make_login_app: AppFactory, mode: str) -> None:
    app = make_login_app(mode)
    client = app.test_client()
    client.post("/login/alice")
    client.post("/reauth")
    sid = client.get("/get/x").json["sid"]
    assert [d["sid"] for d in client.get("/devices").json or []] == [sid]
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 1
    assert client.get("/me").status_code == 401


def test_denylist_entry_lives_as_long_as_the_session(
    make_login_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_login_app(mode, HYBRID_SESSION_ABSOLUTE_TIMEOUT=900)
    client = app.test_client()
    client.post("/login/alice")
    sid = client.get("/get/x").json["sid"]
    client.post("/logout")
    ttl = rdb.pttl(redis_keys(app, sid).revoked)
    assert 899_000 <= ttl <= 901_000


def test_revocation_off_methods_warn_and_do_nothing(
    make_login_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_login_app("jwt", HYBRID_SESSION_REVOCATION=False)
    hybrid = app.extensions["hybrid_session"]
    with app.app_context():
        assert hybrid.revoke("A" * 22) is False
        assert hybrid.revoke_user("alice") == 0
        assert hybrid.sessions_for("alice") == []
        assert hybrid.is_revoked("A" * 22) is False
    client = app.test_client()
    client.post("/login/alice")
    assert client.get("/me").text == "alice"
