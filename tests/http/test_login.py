"""Logging in with Flask-Login: the sid and token rotate, remember me, regenerate, signals."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from flask_hybridsession import signals

from ..conftest import AppFactory
from ..conftest import with_clock
from .support import EVENTS
from .support import credential_of
from .support import record
from .support import replay


def test_login_rotates_sid_and_token_and_keeps_the_cart(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/set/cart/apple")
    guest = credential_of(client)
    guest_sid = client.get("/get/cart").json["sid"]
    client.post("/login/alice")
    member = credential_of(client)
    body = client.get("/get/cart").json
    assert member != guest
    assert body["sid"] != guest_sid
    assert body["value"] == "'apple'"
    assert client.get("/me").text == "alice"
    # The pre-login token is dead, and never carries the login.
    assert replay(login_app, guest, "/get/cart").json["new"] is True
    assert replay(login_app, guest).status_code == 401
    with login_app.app_context():
        assert login_app.extensions["hybrid_session"].is_revoked(guest_sid) is True


def test_login_without_a_prior_session(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/bob")
    assert client.get("/me").text == "bob"


def test_regenerate_gives_new_sid_and_ends_the_old(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/login/alice")
    client.post("/set/cart/pear")
    before = credential_of(client)
    old_sid = client.get("/get/cart").json["sid"]
    client.post("/reauth")
    body = client.get("/get/cart").json
    assert body["sid"] != old_sid
    assert body["value"] == "'pear'"
    assert client.get("/me").text == "alice"
    assert replay(login_app, before).status_code == 401
    with login_app.app_context():
        assert login_app.extensions["hybrid_session"].is_revoked(old_sid)


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


def test_signals_for_login_rotation_and_logout(login_app: Flask) -> None:
    EVENTS.clear()
    with (
        signals.session_created.connected_to(record, login_app),
        signals.session_rotated.connected_to(record, login_app),
        signals.session_revoked.connected_to(record, login_app),
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


def test_login_restarts_the_absolute_clock_and_regenerate_keeps_it(
    make_login_app: AppFactory, mode: str
) -> None:
    app = make_login_app(mode, HYBRID_SESSION_ABSOLUTE_TIMEOUT=100)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/cart/x")
    clock.now += 60
    client.post("/login/alice")  # the clock restarts here
    clock.now += 60
    client.post("/reauth")  # keeps it
    clock.now += 30
    assert client.get("/me").text == "alice"  # 90 s after login
    clock.now += 15
    assert client.get("/me").status_code == 401  # 105 s after login


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
        found = read_companion(ring, companion.value)
        assert found is not None and found[0] == "alice" and found[1] > 0
