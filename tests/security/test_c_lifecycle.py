"""C. Lifecycle (rotation, logout, timeouts): HS-13 to HS-19.

Token time runs on the interface's injectable clock, never on sleeps.
"""

from __future__ import annotations

import email.utils
import time

import pytest
import redis

from flask_hybridsession.testing import redis_keys

from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import assert_fresh
from ..forging import body
from ..forging import present
from ..forging import read_jwt
from ..forging import segment
from .support import MODES
from .support import cookie_attrs
from .support import issued
from .support import login
from .support import set_cookie_headers
from .support import start
from .support import with_clock


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs13_login_rotates_the_token_and_ends_the_old_one(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    guest = start(app, via, "/set/cart/apple")
    member, _ = login(app, "alice", via, before=guest)
    assert member.credential != guest.credential
    assert member.sid != guest.sid
    # The cart survives the login (documented: only the id rotates).
    assert body(member.get("/get/cart"))["value"] == "'apple'"
    # The pre-login token is dead and never carries the login.
    assert_fresh(guest.get("/get/cart"), guest.sid, member.sid)
    assert guest.me().status_code == 401
    keys = redis_keys(app, guest.sid)
    assert not rdb.exists(keys.session)
    assert rdb.exists(keys.revoked)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs14_regenerate_issues_a_new_token_and_ends_the_old(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    before, _ = login(app, "alice", via)
    response = before.post("/reauth")
    assert response.status_code == 200
    after = before.then(response)
    assert after.credential != before.credential
    assert after.sid != before.sid
    assert after.me().text == "alice"
    assert before.me().status_code == 401
    assert not rdb.exists(redis_keys(app, before.sid).session)
    with app.app_context():
        assert app.extensions["hybrid_session"].is_revoked(before.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs15_logout_ends_the_session_server_side(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode, SESSION_COOKIE_DOMAIN="example.test", SESSION_COOKIE_PATH="/app")
    held, _ = login(app, "alice", via)
    out = held.post("/logout")
    assert out.status_code == 200
    assert held.me().status_code == 401
    assert not rdb.exists(redis_keys(app, held.sid).session)
    assert rdb.exists(redis_keys(app, held.sid).revoked)
    if via == "bearer":
        assert out.headers.get("X-Session-Token", "") == ""
        assert "Set-Cookie" not in out.headers
        return
    [cleared] = set_cookie_headers(out)
    attrs = cookie_attrs(cleared)
    assert cleared.startswith("session=;")
    assert attrs["max-age"] == "0"
    assert attrs["domain"].lstrip(".") == "example.test"
    assert attrs["path"] == "/app"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs16_idle_timeout_is_enforced_server_side(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    idle = 120
    app = make_sec_app(mode, HYBRID_SESSION_IDLE_TIMEOUT=idle)
    clock = with_clock(app)
    start_time = clock.now
    early, _ = login(app, "alice", via)
    late, _ = login(app, "bob", via)
    clock.now = start_time + idle - 1
    assert early.me().text == "alice"
    clock.now = start_time + idle + 1
    assert late.me().status_code == 401
    assert_fresh(late.get(), late.sid)


@pytest.mark.parametrize("mode", ["jwt", "auto"])
@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_hs16_editing_a_time_field_breaks_the_token(
    make_sec_app: AppFactory, mode: str, claim: str
) -> None:
    app = make_sec_app(mode, HYBRID_SESSION_IDLE_TIMEOUT=120)
    held, _ = login(app, "alice")
    header, _, signature = held.credential.split(".")
    _, values = read_jwt(held.credential)
    values[claim] += 3600
    forged = f"{header}.{segment(values)}.{signature}"
    assert forged != held.credential
    assert present(app, forged, path="/me").status_code == 401
    assert held.me().text == "alice"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs17_absolute_timeout_whatever_the_activity(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    idle, absolute = 60, 300
    app = make_sec_app(
        mode, HYBRID_SESSION_IDLE_TIMEOUT=idle, HYBRID_SESSION_ABSOLUTE_TIMEOUT=absolute
    )
    clock = with_clock(app)
    begin = clock.now
    held, _ = login(app, "alice", via)
    step = 0
    while clock.now + idle / 2 < begin + absolute:
        step += 1
        clock.now = begin + step * idle / 2
        response = held.me()
        assert response.text == "alice", step
        held = held.then(response)
        if held.credential.count(".") == 2:
            # Every re-issued JWT keeps the original deadline.
            assert read_jwt(held.credential)[1]["exp"] <= begin + absolute + 1
        ttl = rdb.pttl(redis_keys(app, held.sid).session)
        if ttl > 0:
            assert ttl <= (begin + absolute - clock.now) * 1000 + 2000
    clock.now = begin + absolute + 1
    assert held.me().status_code == 401


@pytest.mark.parametrize("mode", MODES)
def test_hs18_cookie_is_non_persistent_by_default(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode)
    response = app.test_client(use_cookies=False).post("/login/alice")
    attrs = cookie_attrs(set_cookie_headers(response)[0])
    assert "expires" not in attrs
    assert "max-age" not in attrs


@pytest.mark.parametrize("mode", MODES)
def test_hs18_persistent_cookie_never_outlives_the_session(
    make_sec_app: AppFactory, mode: str
) -> None:
    absolute = 3600
    app = make_sec_app(mode, HYBRID_SESSION_ABSOLUTE_TIMEOUT=absolute)
    now = time.time()
    response = app.test_client(use_cookies=False).post("/permanent/k/v")
    [header] = set_cookie_headers(response)
    attrs = cookie_attrs(header)
    expires = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
    assert expires <= now + absolute + 2
    if "max-age" in attrs:
        assert int(attrs["max-age"]) <= absolute
    credential = issued(response, "cookie")
    if credential.count(".") == 2:
        claims = read_jwt(credential)[1]
        assert expires <= claims["exp"]
        assert expires - now <= claims["exp"] - claims["iat"] + 2


@pytest.mark.parametrize("mode", ["jwt", "auto"])
@pytest.mark.parametrize("via", VIAS)
def test_hs19_sliding_renewal_keeps_the_sid_and_revoking_it_ends_every_token(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    idle = 100
    app = make_sec_app(mode, HYBRID_SESSION_IDLE_TIMEOUT=idle)
    clock = with_clock(app)
    begin = clock.now
    old, _ = login(app, "alice", via)
    clock.now = begin + idle / 2 + 1
    response = old.me()
    assert response.text == "alice"
    new = old.then(response)
    assert new.credential != old.credential
    old_claims, new_claims = read_jwt(old.credential)[1], read_jwt(new.credential)[1]
    assert new_claims["sid"] == old_claims["sid"] == old.sid == new.sid
    assert new_claims["jti"] != old_claims["jti"]
    assert new_claims["exp"] > old_claims["exp"]

    # The old token is valid at most until its own exp.
    clock.now = old_claims["exp"]
    assert old.me().status_code == 401
    clock.now = old_claims["exp"] - 1
    assert old.me().text == "alice"

    # Revoking the sid ends both.
    with app.test_request_context():
        assert app.extensions["hybrid_session"].revoke(new.sid)
    assert old.me().status_code == 401
    assert new.me().status_code == 401
    assert_fresh(new.get(), new.sid)


def test_hs19_not_applicable_to_server_mode(make_sec_app: AppFactory, rdb: redis.Redis) -> None:
    """Server mode re-issues nothing: the idle clock lives in Redis, the token stays."""
    app = make_sec_app("server", HYBRID_SESSION_IDLE_TIMEOUT=100)
    clock = with_clock(app)
    held, _ = login(app, "alice")
    clock.now += 60
    response = held.me()
    assert response.text == "alice"
    assert issued(response, "cookie") in ("", held.credential)
