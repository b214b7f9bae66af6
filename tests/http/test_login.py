"""Flask-Login, rotation, logout, revocation lists and log out everywhere."""

from __future__ import annotations

import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from flask_hybridsession import signals
from flask_hybridsession.testing import redis_keys

from ..conftest import AppFactory


def _credential(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, credential: str, path: str = "/me", bearer: bool = False) -> t.Any:
    client = app.test_client()
    if bearer:
        return client.get(path, headers={"Authorization": f"Bearer {credential}"})
    client.set_cookie("session", credential)
    return client.get(path)


@pytest.fixture()
def login_app(make_login_app: AppFactory, mode: str) -> Flask:
    return make_login_app(mode)


def test_login_rotates_sid_and_token_and_keeps_the_cart(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/set/cart/apple")
    guest = _credential(client)
    guest_sid = client.get("/get/cart").json["sid"]
    client.post("/login/alice")
    member = _credential(client)
    body = client.get("/get/cart").json
    assert member != guest
    assert body["sid"] != guest_sid
    assert body["value"] == "'apple'"
    assert client.get("/me").text == "alice"
    # The pre-login token is dead, and never carries the login.
    assert _replay(login_app, guest, "/get/cart").json["new"] is True
    assert _replay(login_app, guest).status_code == 401
    with login_app.app_context():
        assert login_app.extensions["hybrid_session"].is_revoked(guest_sid) is True


def test_login_without_a_prior_session(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/bob")
    assert client.get("/me").text == "bob"


@pytest.mark.parametrize("bearer", [False, True], ids=["cookie", "bearer"])
def test_logout_ends_the_token_for_replay(login_app: Flask, bearer: bool) -> None:
    client = login_app.test_client()
    headers = {"X-Session-Token": "new"} if bearer else {}
    response = client.post("/login/alice", headers=headers)
    credential = response.headers["X-Session-Token"] if bearer else _credential(client)
    assert _replay(login_app, credential, bearer=bearer).text == "alice"
    if bearer:
        out = login_app.test_client().post(
            "/logout", headers={"Authorization": f"Bearer {credential}"}
        )
        assert "Set-Cookie" not in out.headers
    else:
        out = client.post("/logout")
        assert "session=;" in out.headers["Set-Cookie"]
    assert _replay(login_app, credential, bearer=bearer).status_code == 401


def test_logout_on_one_worker_is_seen_by_another(make_login_app: AppFactory, mode: str) -> None:
    first, second = make_login_app(mode), make_login_app(mode)
    client = first.test_client()
    client.post("/login/alice")
    credential = _credential(client)
    assert _replay(second, credential).text == "alice"
    client.post("/logout")
    assert _replay(second, credential).status_code == 401


def test_revoke_user_ends_every_device_and_no_other_user(
    make_login_app: AppFactory, rdb: redis.Redis
) -> None:
    jwt_app, server_app = make_login_app("jwt"), make_login_app("server")
    devices = []
    for app in (jwt_app, server_app, jwt_app):
        client = app.test_client()
        client.post("/login/alice")
        devices.append((app, _credential(client)))
    bearer = jwt_app.test_client().post("/login/alice", headers={"X-Session-Token": "new"})
    bearer_token = bearer.headers["X-Session-Token"]
    bob = server_app.test_client()
    bob.post("/login/bob")

    admin = jwt_app.test_client()
    admin.set_cookie("session", devices[0][1])
    assert admin.post("/logout-all").text == "4"
    for app, credential in devices:
        assert _replay(app, credential).status_code == 401
    assert _replay(jwt_app, bearer_token, bearer=True).status_code == 401
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
    credential = _credential(client)
    for key in rdb.scan_iter("hs:{u:*}:i"):
        rdb.delete(key)  # the index is lost: the generation still ends it
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 0
    assert _replay(app, credential).status_code == 401


def test_regenerate_gives_new_sid_and_ends_the_old(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/alice")
    client.post("/set/cart/pear")
    before = _credential(client)
    old_sid = client.get("/get/cart").json["sid"]
    client.post("/reauth")
    body = client.get("/get/cart").json
    assert body["sid"] != old_sid
    assert body["value"] == "'pear'"
    assert client.get("/me").text == "alice"
    assert _replay(login_app, before).status_code == 401
    with login_app.app_context():
        assert login_app.extensions["hybrid_session"].is_revoked(old_sid)


def test_devices_list_and_revoke_one(login_app: Flask) -> None:
    clients = []
    for agent in ("Firefox", "Chrome"):
        client = login_app.test_client()
        client.post("/login/alice", headers={"User-Agent": agent})
        clients.append(client)
    devices: list[dict[str, str]] = clients[0].get("/devices").json or []
    assert sorted(d["ua"] for d in devices) == ["Chrome", "Firefox"]
    assert all(d["ip"] == "127.0.0.1" for d in devices)
    listing = str(devices)
    assert all(_credential(c) not in listing for c in clients)
    chrome = next(d["sid"] for d in devices if d["ua"] == "Chrome")
    hybrid = login_app.extensions["hybrid_session"]
    with login_app.app_context():
        assert hybrid.revoke(chrome) is True
        assert hybrid.revoke(chrome) is False
        assert hybrid.revoke("A" * 22) is False
        assert hybrid.revoke("not a sid") is False
    assert clients[1].get("/me").status_code == 401
    assert clients[0].get("/me").text == "alice"
    assert [d["ua"] for d in clients[0].get("/devices").json or []] == ["Firefox"]


def test_remember_me_restores_and_revoke_user_defeats_it(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/alice?remember=1")
    remember = client.get_cookie("remember_token")
    companion = client.get_cookie("remember_token_hs")
    assert remember is not None and companion is not None
    assert "alice" not in companion.value

    def fresh_browser(with_companion: bool = True) -> FlaskClient:
        browser = login_app.test_client()
        browser.set_cookie("remember_token", remember.value)
        if with_companion:
            browser.set_cookie("remember_token_hs", companion.value)
        return browser

    restored = fresh_browser()
    assert restored.get("/me").text == "alice"
    assert restored.get_cookie("session") is not None  # a new, rotated session
    assert fresh_browser(with_companion=False).get("/me").status_code == 401

    client.post("/logout-all")
    assert fresh_browser().get("/me").status_code == 401


def test_flask_login_logout_keeps_remember_clear(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/alice?remember=1")
    response = client.post("/logout")
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=;") for c in cookies)
    assert any(c.startswith("remember_token_hs=;") for c in cookies)
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


def _record(sender: Flask, **extra: t.Any) -> None:
    EVENTS.append((extra.get("reason") or "", str(extra.get("sid")), str(extra.get("old_sid"))))


EVENTS: list[tuple[str, str, str]] = []


def test_signals_for_login_rotation_and_logout(login_app: Flask) -> None:
    EVENTS.clear()
    with (
        signals.session_created.connected_to(_record, login_app),
        signals.session_rotated.connected_to(_record, login_app),
        signals.session_revoked.connected_to(_record, login_app),
    ):
        client = login_app.test_client()
        client.post("/set/cart/x")
        guest = client.get("/get/cart").json["sid"]
        client.post("/login/alice")
        member = client.get("/get/cart").json["sid"]
        client.post("/logout")
    assert EVENTS[0] == ("", guest, "None")  # created
    assert EVENTS[1] == ("", member, guest)  # rotated at login
    assert EVENTS[2][0] == "logout" and EVENTS[2][1] == member


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


def test_logout_method_clears_and_ends_in_every_form(make_login_app: AppFactory, mode: str) -> None:
    app = make_login_app(mode)

    @app.post("/hybrid-logout")
    def hybrid_logout() -> str:
        app.extensions["hybrid_session"].logout()
        return "ok"

    client = app.test_client()
    client.post("/login/alice?remember=1")
    client.post("/set/cart/x")
    credential = _credential(client)
    response = client.post("/hybrid-logout")
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=;") for c in cookies)
    assert client.get("/me").status_code == 401
    assert client.get("/get/cart").json["value"] == "None"
    assert _replay(app, credential).status_code == 401


def test_login_restarts_the_absolute_clock_and_regenerate_keeps_it(
    make_login_app: AppFactory, mode: str
) -> None:
    import time

    app = make_login_app(mode, HYBRID_SESSION_ABSOLUTE_TIMEOUT=100)
    now = [time.time()]
    app.session_interface.clock = lambda: now[0]  # type: ignore[attr-defined]
    client = app.test_client()
    client.post("/set/cart/x")
    now[0] += 60
    client.post("/login/alice")  # the clock restarts here
    now[0] += 60
    client.post("/reauth")  # keeps it
    now[0] += 30
    assert client.get("/me").text == "alice"  # 90 s after login
    now[0] += 15
    assert client.get("/me").status_code == 401  # 105 s after login


def test_revoke_user_sends_one_signal_per_session(make_login_app: AppFactory) -> None:
    app = make_login_app("server")
    for _ in range(3):
        app.test_client().post("/login/alice")
    EVENTS.clear()
    with signals.session_revoked.connected_to(_record, app), app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 3
        assert app.extensions["hybrid_session"].revoke_user("alice") == 0
    assert [e[0] for e in EVENTS] == ["revoke_user"] * 3


def test_deleted_user_is_anonymous_at_once(make_login_app: AppFactory, mode: str) -> None:
    from ..conftest import USERS

    app = make_login_app(mode)
    USERS.add("carol")
    try:
        client = app.test_client()
        client.post("/login/carol")
        assert client.get("/me").text == "carol"
    finally:
        USERS.discard("carol")
    assert client.get("/me").status_code == 401


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


def test_remember_me_survives_secret_rotation(make_login_app: AppFactory) -> None:
    from ..conftest import SECRET

    app = make_login_app("jwt")
    client = app.test_client()
    client.post("/login/alice?remember=1")
    remember, companion = (
        client.get_cookie("remember_token"),
        client.get_cookie("remember_token_hs"),
    )
    assert remember is not None and companion is not None
    rotated = make_login_app(
        "jwt", SECRET_KEY="rotated-0123456789abcdef0123456789abcdef", SECRET_KEY_FALLBACKS=[SECRET]
    )
    # Flask-Login signs its own cookie with SECRET_KEY: keep the old one for it.
    rotated.config["SECRET_KEY_FALLBACKS"] = [SECRET]
    browser = rotated.test_client()
    browser.set_cookie("remember_token", remember.value)
    browser.set_cookie("remember_token_hs", companion.value)
    assert browser.get("/me").status_code in (200, 401)
    with rotated.test_request_context():
        from flask_hybridsession.login import read_companion

        ring = rotated.session_interface.engine.rings.get(  # type: ignore[attr-defined]
            (rotated.config["SECRET_KEY"].encode(), SECRET.encode())
        )
        assert read_companion(ring, companion.value) == ("alice", 0)


def test_revoke_user_counts_only_live_sessions(make_login_app: AppFactory) -> None:
    import time

    app = make_login_app("jwt", HYBRID_SESSION_ABSOLUTE_TIMEOUT=100)
    now = [time.time()]
    app.session_interface.clock = lambda: now[0]  # type: ignore[attr-defined]
    app.test_client().post("/login/alice")
    now[0] += 50
    app.test_client().post("/login/alice")
    now[0] += 60  # the first session is past its deadline
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 1


def test_guest_server_reads_never_write_last_seen(
    make_login_app: AppFactory, rdb: redis.Redis
) -> None:
    import time

    app = make_login_app("server")
    now = [time.time()]
    app.session_interface.clock = lambda: now[0]  # type: ignore[attr-defined]
    guest, member = app.test_client(), app.test_client()
    guest.post("/set/k/v")
    member.post("/login/alice")
    now[0] += 120
    guest_sid = guest.get("/get/k").json["sid"]
    member_sid = member.get("/get/k").json["sid"]
    guest_seen = rdb.hget(f"hs:{{s:{guest_sid}}}", "l")
    member_seen = rdb.hget(f"hs:{{s:{member_sid}}}", "l")
    assert guest_seen is not None and member_seen is not None
    assert int(member_seen) >= int(now[0] * 1000) - 1
    assert int(guest_seen) < int(now[0] * 1000) - 60_000
