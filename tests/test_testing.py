"""flask_hybridsession.testing: the helpers users' own test suites import."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask

from flask_hybridsession.testing import EmbeddedRedis
from flask_hybridsession.testing import decoded_session
from flask_hybridsession.testing import login
from flask_hybridsession.testing import redis_keys

from .conftest import SECRET
from .conftest import AppFactory
from .conftest import build_app

# Every mode, and jwt mode without Redis at all.
VARIANTS = {
    "jwt": {},
    "server": {},
    "auto": {},
    "jwt-no-redis": {"HYBRID_SESSION_REVOCATION": False},
}


@pytest.fixture(params=list(VARIANTS))
def login_app(request: pytest.FixtureRequest, make_login_app: AppFactory) -> Flask:
    variant = t.cast(str, request.param)
    return make_login_app(variant.split("-")[0], **VARIANTS[variant])


def test_login_logs_the_client_in_and_keeps_guest_data(login_app: Flask) -> None:
    client = login_app.test_client()
    client.post("/set/cart/apple")
    guest_sid = client.get("/get/cart").json["sid"]

    sid = login(client, "alice")

    assert client.get("/me").text == "alice"
    seen = client.get("/get/cart").json
    assert seen["sid"] == sid != guest_sid
    assert seen["value"] == "'apple'"
    hybrid = login_app.extensions["hybrid_session"]
    if login_app.session_interface.backend is not None:  # type: ignore[attr-defined]
        with login_app.app_context():
            assert hybrid.is_revoked(guest_sid)
            assert [s.sid for s in hybrid.sessions_for("alice")] == [sid]


@pytest.mark.parametrize("protection", ["basic", "strong"])
def test_login_passes_session_protection(make_login_app: AppFactory, protection: str) -> None:
    app = make_login_app("server")
    app.login_manager.session_protection = protection  # type: ignore[attr-defined]
    client = app.test_client()
    login(client, "bob")
    assert client.get("/me").text == "bob"
    assert decoded_session(app, client)["_fresh"] is True


def test_logout_after_login_helper_ends_the_session(login_app: Flask) -> None:
    client = login_app.test_client()
    login(client, "alice", fresh=False)
    assert decoded_session(login_app, client)["_fresh"] is False
    client.post("/logout")
    assert client.get("/me").status_code == 401


def test_decoded_session_of_client_response_and_credential(login_app: Flask) -> None:
    client = login_app.test_client()
    assert decoded_session(login_app, client) == {}
    response = client.post("/set/color/blue")
    assert decoded_session(login_app, response) == {"color": "blue"}
    assert decoded_session(login_app, client) == {"color": "blue"}
    with pytest.raises(LookupError, match="pass the test client"):
        decoded_session(login_app, client.get("/"))
    # A credential the app refuses reads as the view would see it: empty.
    assert decoded_session(login_app, "v1." + "A" * 64) == {}
    assert decoded_session(login_app, client.post("/clear")) == {}


def test_decoded_session_of_a_header_credential(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode)
    client = app.test_client()
    response = client.post("/set/k/v", headers={"X-Session-Token": "new"})
    assert decoded_session(app, response) == {"k": "v"}


def test_decoded_session_without_the_header_transport(make_app: AppFactory) -> None:
    app = make_app("server", HYBRID_SESSION_TRANSPORTS=("cookie",))
    client = app.test_client()
    client.post("/set/k/v")
    assert decoded_session(app, client) == {"k": "v"}


def test_helpers_refuse_an_app_without_the_extension() -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.raises(TypeError, match="HybridSession"):
        login(app.test_client(), "alice")


def test_hybrid_redis_fixture_serves_an_app(hybrid_redis: EmbeddedRedis) -> None:
    assert hybrid_redis.url.startswith("unix://")
    app = build_app("server", HYBRID_SESSION_REDIS_URL=hybrid_redis.url)
    client = app.test_client()
    client.post("/set/k/v")
    sid = client.get("/get/k").json["sid"]
    redis_client = hybrid_redis.client()
    try:
        assert redis_client.exists(redis_keys(app, sid).session)
    finally:
        redis_client.close()


def test_hybrid_redis_is_empty_for_each_test(hybrid_redis: EmbeddedRedis) -> None:
    redis_client = hybrid_redis.client()
    try:
        assert redis_client.dbsize() == 0
        redis_client.set("left-behind", b"1")
    finally:
        redis_client.close()


def test_hybrid_redis_is_still_empty(hybrid_redis: EmbeddedRedis) -> None:
    redis_client = hybrid_redis.client()
    try:
        assert redis_client.dbsize() == 0
    finally:
        redis_client.close()
