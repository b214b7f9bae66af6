"""Switching modes without logout: workers of each mode on one Redis open each other's sessions."""

from __future__ import annotations

import pytest
import redis

from ..conftest import MODES
from ..conftest import AppFactory
from .support import credential_of


@pytest.mark.parametrize(("before", "after"), [("jwt", "server"), ("server", "jwt")])
def test_mode_switch_keeps_everyone_logged_in(
    make_app: AppFactory, rdb: redis.Redis, before: str, after: str
) -> None:
    client = make_app(before).test_client()
    client.post("/set/k/v")
    client.post("/set/n/1")
    sid = client.get("/get/k").json["sid"]
    old_credential = credential_of(client)

    switched = make_app(after)
    moved = switched.test_client()
    moved.set_cookie("session", old_credential)
    assert moved.get("/get/k").json == {"value": "'v'", "sid": sid, "new": False}
    new_credential = credential_of(moved)
    assert new_credential != old_credential
    assert new_credential.startswith("v1.") == (after == "server")
    moved.post("/set/k/w")
    assert moved.get("/get/k").json == {"value": "'w'", "sid": sid, "new": False}
    assert moved.get("/get/n").json["value"] == "'1'"
    if after == "jwt":
        # The Redis copy is gone once the session lives in its token.
        assert rdb.keys("hs:{s:*}") == []


def test_old_jwt_after_move_to_server_sees_the_moved_session(make_app: AppFactory) -> None:
    client = make_app("jwt").test_client()
    client.post("/set/k/old")
    old_jwt = credential_of(client)
    server = make_app("server").test_client()
    server.set_cookie("session", old_jwt)
    server.post("/set/k/new")
    # The stale token resolves to the moved session by its sid, never to
    # the copy it carries.
    replay = make_app("server").test_client()
    replay.set_cookie("session", old_jwt)
    assert replay.get("/get/k").json["value"] == "'new'"


def test_logout_after_switch_ends_every_form_of_the_token(make_app: AppFactory) -> None:
    client = make_app("jwt").test_client()
    client.post("/set/k/v")
    old_jwt = credential_of(client)
    server_app = make_app("server")
    server = server_app.test_client()
    server.set_cookie("session", old_jwt)
    server.get("/get/k")
    server_token = credential_of(server)
    server.post("/clear")
    replay = server_app.test_client()
    replay.set_cookie("session", server_token)
    assert replay.get("/get/k").json["new"] is True
    # A guest's older token carries its own copy: with no state kept for
    # guests (SPEC 2026-12-04, growth) it opens that copy until it expires.
    replay = server_app.test_client()
    replay.set_cookie("session", old_jwt)
    assert replay.get("/get/k").json["value"] == "'v'"


def test_server_token_opens_empty_in_jwt_mode_without_revocation(make_app: AppFactory) -> None:
    client = make_app("server").test_client()
    client.post("/set/k/v")
    app = make_app("jwt", HYBRID_SESSION_REVOCATION=False)
    other = app.test_client()
    other.set_cookie("session", credential_of(client))
    assert other.get("/get/k").json["new"] is True


@pytest.mark.parametrize("before", MODES)
@pytest.mark.parametrize("after", MODES)
def test_migration_matrix_keeps_login_and_data(
    make_login_app: AppFactory, before: str, after: str
) -> None:
    old = make_login_app(before)
    client = old.test_client()
    client.post("/set/cart/pear")
    client.post("/login/alice")
    sid = client.get("/get/cart").json["sid"]
    new = make_login_app(after)
    moved = new.test_client()
    moved.set_cookie("session", credential_of(client))
    assert moved.get("/me").text == "alice"
    assert moved.get("/get/cart").json == {"value": "'pear'", "sid": sid, "new": False}
    moved.post("/set/cart/plum")
    back = old.test_client()
    back.set_cookie("session", credential_of(moved))
    assert back.get("/get/cart").json == {"value": "'plum'", "sid": sid, "new": False}
