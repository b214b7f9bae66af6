"""D. Revocation: HS-20 to HS-25."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from flask import session
from werkzeug.test import TestResponse

from flask_hybridsession.testing import redis_keys

from .. import conftest as base
from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import assert_fresh
from ..forging import body
from ..forging import read_jwt
from .support import MODES
from .support import Held
from .support import issued
from .support import login
from .support import with_clock


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs20_revocation_is_seen_at_once_by_another_instance(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    one, two = make_sec_app(mode), make_sec_app(mode)
    held, _ = login(one, "alice", via)
    on_two = Held(two, held.credential, via, held.sid)
    assert on_two.me().text == "alice"
    with one.test_request_context():
        assert one.extensions["hybrid_session"].revoke(held.sid) is True
    assert on_two.me().status_code == 401
    assert_fresh(on_two.get(), held.sid)
    ttl_ms = rdb.pttl(redis_keys(one, held.sid).revoked)
    if held.credential.count(".") == 2:
        remaining = read_jwt(held.credential)[1]["exp"] - time.time()
        assert ttl_ms >= remaining * 1000
    else:
        assert ttl_ms > 0


@pytest.mark.parametrize("bumper", MODES)
def test_hs21_logout_everywhere_ends_every_mode_and_device(
    make_sec_app: AppFactory, bumper: str
) -> None:
    apps = {mode: make_sec_app(mode) for mode in MODES}
    # One frozen second: the bump and the tokens share it, so only a
    # generation counter (not whole-second iat) can tell them apart.
    with_clock(*apps.values(), now=float(int(time.time())))
    devices = [
        login(apps["jwt"], "alice", "cookie")[0],
        login(apps["jwt"], "alice", "bearer")[0],
        login(apps["server"], "alice", "cookie")[0],
        login(apps["auto"], "alice", "bearer")[0],
    ]
    other, _ = login(apps["server"], "bob", "cookie")
    for device in devices:
        assert device.me().text == "alice"
    trigger, _ = login(apps[bumper], "alice", "cookie")
    response = trigger.post("/logout-all")
    assert response.status_code == 200
    assert int(response.text) >= len(devices)
    for device in [*devices, trigger]:
        assert device.me().status_code == 401
    assert other.me().text == "bob"
    # A new login in the same second works.
    again, _ = login(apps[bumper], "alice", "cookie")
    assert again.me().text == "alice"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs22_deleted_user_is_anonymous_at_once(
    make_sec_app: AppFactory, mode: str, via: Via, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_sec_app(mode)
    held, _ = login(app, "bob", via)
    monkeypatch.setattr(base, "USERS", {"alice"})
    assert held.me().status_code == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs22_disabling_a_user_with_revoke_user_ends_every_token(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """Flask-Login checks is_active only at login; disabling calls revoke_user()."""
    app = make_sec_app(mode)
    held, _ = login(app, "bob", via)
    with app.test_request_context():
        assert app.extensions["hybrid_session"].revoke_user("bob") == 1
    assert held.me().status_code == 401


@pytest.mark.parametrize("mode", MODES)
def test_hs23_sessions_listed_without_credentials_and_revoked_one_by_one(
    make_sec_app: AppFactory, mode: str
) -> None:
    app = make_sec_app(mode)
    devices = [login(app, "alice", via)[0] for via in ("cookie", "bearer", "cookie")]
    listing = devices[0].get("/devices")
    entries = listing.get_json()
    assert isinstance(entries, list)
    assert sorted(e["sid"] for e in entries) == sorted(d.sid for d in devices)
    text = listing.get_data(as_text=True)
    for device in devices:
        assert device.credential not in text
    victim = devices[1]
    assert devices[0].post(f"/revoke/{victim.sid}").text == "True"
    assert victim.me().status_code == 401
    assert devices[0].me().text == "alice"
    assert devices[2].me().text == "alice"
    assert len(devices[0].get("/devices").get_json() or []) == 2


@pytest.mark.parametrize("mode", MODES)
def test_hs24_remember_me_cannot_bring_back_a_revoked_user(
    make_sec_app: AppFactory, mode: str
) -> None:
    app = make_sec_app(mode)
    client = app.test_client()
    assert client.post("/login/alice?remember=1").status_code == 200
    remember = client.get_cookie("remember_token")
    companion = client.get_cookie("remember_token_hs")
    assert remember is not None
    assert companion is not None

    def browser(with_companion: bool) -> int:
        fresh = app.test_client()
        fresh.set_cookie("remember_token", remember.value)
        if with_companion:
            fresh.set_cookie("remember_token_hs", companion.value)
        return fresh.get("/me").status_code

    assert browser(with_companion=True) == 200  # positive control: remember-me works
    assert browser(with_companion=False) == 401
    assert client.post("/logout-all").status_code == 200
    assert browser(with_companion=True) == 401
    assert browser(with_companion=False) == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs25_in_flight_request_never_resurrects_a_revoked_session(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    entered, release = threading.Event(), threading.Event()

    @app.post("/slow")
    def slow() -> str:
        session["late"] = "write"
        entered.set()
        release.wait(10)
        return "ok"

    held, _ = login(app, "alice", via)
    results: list[TestResponse] = []
    worker = threading.Thread(target=lambda: results.append(held.post("/slow")))
    worker.start()
    try:
        assert entered.wait(10)
        assert held.post("/logout").status_code == 200
    finally:
        release.set()
        worker.join(10)
    [late] = results
    assert late.status_code in (200, 401)
    assert not rdb.exists(redis_keys(app, held.sid).session)
    assert held.me().status_code == 401
    assert_fresh(held.get("/get/late"), held.sid)
    reissued = issued(late, via)
    if reissued:
        again = Held(app, reissued, via, held.sid)
        assert again.me().status_code == 401
        assert body(again.get("/get/late"))["value"] == "None"
