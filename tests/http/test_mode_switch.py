"""Key rotation through SECRET_KEY_FALLBACKS, and switching modes without logout."""

from __future__ import annotations

import base64
import json
import typing as t

import pytest
import redis

from ..conftest import SECRET
from ..conftest import AppFactory

NEW_SECRET = "rotated-secret-0123456789abcdef0123456789ab"


def _cookie(client: t.Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return t.cast(str, cookie.value)


def _jwt_header(token: str) -> dict[str, t.Any]:
    head = token.split(".")[0]
    return t.cast(dict[str, t.Any], json.loads(base64.urlsafe_b64decode(head + "==")))


def test_rotation_keeps_sessions_and_reissues_under_new_key(
    make_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    old_app = make_app(mode)
    client = old_app.test_client()
    client.post("/set/k/v")
    old_credential = _cookie(client)
    sid = client.get("/get/k").json["sid"]

    new_app = make_app(mode, SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[SECRET])
    rotated = new_app.test_client()
    rotated.set_cookie("session", old_credential)
    body = rotated.get("/get/k").json
    assert body == {"value": "'v'", "sid": sid, "new": False}
    new_credential = _cookie(rotated)

    # Without the fallback, only what was re-issued under the new key opens.
    strict_app = make_app(mode, SECRET_KEY=NEW_SECRET)
    fresh = strict_app.test_client()
    fresh.set_cookie("session", new_credential)
    assert fresh.get("/get/k").json == {"value": "'v'", "sid": sid, "new": False}
    stale = strict_app.test_client()
    stale.set_cookie("session", old_credential)
    if mode in ("jwt", "auto"):
        assert new_credential != old_credential
        assert _jwt_header(new_credential)["kid"] != _jwt_header(old_credential)["kid"]
        assert stale.get("/get/k").json["new"] is True
    else:
        # The server token stays; its Redis fields were re-sealed.
        assert new_credential == old_credential


def test_explicit_encryption_keys_rotate(make_app: AppFactory, mode: str) -> None:
    k1, k2 = b"1" * 32, b"2" * 32
    client = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k1]).test_client()
    client.post("/set/k/v")
    credential = _cookie(client)
    both = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2, k1]).test_client()
    both.set_cookie("session", credential)
    assert both.get("/get/k").json["value"] == "'v'"
    after = _cookie(both)
    only_new = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2]).test_client()
    only_new.set_cookie("session", after)
    assert only_new.get("/get/k").json["value"] == "'v'"
    dropped = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2]).test_client()
    if mode in ("jwt", "auto"):
        dropped.set_cookie("session", credential)
        assert dropped.get("/get/k").json["new"] is True


@pytest.mark.parametrize(("before", "after"), [("jwt", "server"), ("server", "jwt")])
def test_mode_switch_keeps_everyone_logged_in(
    make_app: AppFactory, rdb: redis.Redis, before: str, after: str
) -> None:
    client = make_app(before).test_client()
    client.post("/set/k/v")
    client.post("/set/n/1")
    sid = client.get("/get/k").json["sid"]
    old_credential = _cookie(client)

    switched = make_app(after)
    moved = switched.test_client()
    moved.set_cookie("session", old_credential)
    assert moved.get("/get/k").json == {"value": "'v'", "sid": sid, "new": False}
    new_credential = _cookie(moved)
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
    old_jwt = _cookie(client)
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
    old_jwt = _cookie(client)
    server_app = make_app("server")
    server = server_app.test_client()
    server.set_cookie("session", old_jwt)
    server.get("/get/k")
    server_token = _cookie(server)
    server.post("/clear")
    for credential in (old_jwt, server_token):
        replay = server_app.test_client()
        replay.set_cookie("session", credential)
        assert replay.get("/get/k").json["new"] is True


def test_server_token_opens_empty_in_jwt_mode_without_revocation(make_app: AppFactory) -> None:
    client = make_app("server").test_client()
    client.post("/set/k/v")
    app = make_app("jwt", HYBRID_SESSION_REVOCATION=False)
    other = app.test_client()
    other.set_cookie("session", _cookie(client))
    assert other.get("/get/k").json["new"] is True
