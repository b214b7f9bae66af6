"""Secrets and keys: rotation through SECRET_KEY_FALLBACKS and explicit encryption keys,
the fallbacks checked, and no secret in a repr."""

from __future__ import annotations

import typing as t

import pytest
import redis
from flask import session

from flask_hybridsession import ConfigurationError
from flask_hybridsession.crypto import build_keyring

from ..conftest import SECRET
from ..conftest import AppFactory
from ..forging import read_jwt
from .support import credential_of

NEW_SECRET = "rotated-secret-0123456789abcdef0123456789ab"


def test_rotation_keeps_sessions_and_reissues_under_new_key(
    make_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    old_app = make_app(mode)
    client = old_app.test_client()
    client.post("/set/k/v")
    old_credential = credential_of(client)
    sid = client.get("/get/k").json["sid"]

    new_app = make_app(mode, SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[SECRET])
    rotated = new_app.test_client()
    rotated.set_cookie("session", old_credential)
    body = rotated.get("/get/k").json
    assert body == {"value": "'v'", "sid": sid, "new": False}
    new_credential = credential_of(rotated)

    # Without the fallback, only what was re-issued under the new key opens.
    strict_app = make_app(mode, SECRET_KEY=NEW_SECRET)
    fresh = strict_app.test_client()
    fresh.set_cookie("session", new_credential)
    assert fresh.get("/get/k").json == {"value": "'v'", "sid": sid, "new": False}
    stale = strict_app.test_client()
    stale.set_cookie("session", old_credential)
    if mode in ("jwt", "auto"):
        assert new_credential != old_credential
        assert read_jwt(new_credential)[0]["kid"] != read_jwt(old_credential)[0]["kid"]
        assert stale.get("/get/k").json["new"] is True
    else:
        # The server token stays; its Redis fields were re-sealed.
        assert new_credential == old_credential


def test_explicit_encryption_keys_rotate(make_app: AppFactory, mode: str) -> None:
    k1, k2 = b"1" * 32, b"2" * 32
    client = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k1]).test_client()
    client.post("/set/k/v")
    credential = credential_of(client)
    both = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2, k1]).test_client()
    both.set_cookie("session", credential)
    assert both.get("/get/k").json["value"] == "'v'"
    after = credential_of(both)
    only_new = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2]).test_client()
    only_new.set_cookie("session", after)
    assert only_new.get("/get/k").json["value"] == "'v'"
    dropped = make_app(mode, HYBRID_SESSION_ENCRYPTION_KEYS=[k2]).test_client()
    if mode in ("jwt", "auto"):
        dropped.set_cookie("session", credential)
        assert dropped.get("/get/k").json["new"] is True


def test_fallbacks_given_as_one_string_are_refused_at_init(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY_FALLBACKS.*list"):
        make_app("jwt", SECRET_KEY_FALLBACKS="old-secret-0123456789abcdef0123456789")


def test_fallbacks_string_set_later_is_one_secret_not_many(make_app: AppFactory) -> None:
    # Apps of different secrets share a prefix only with a configured naming key.
    naming = {"HYBRID_SESSION_NAMING_KEY": b"N" * 32}
    old = make_app("jwt", **naming)
    client = old.test_client()
    client.post("/set/k/v")
    app = make_app("jwt", SECRET_KEY="new-secret-0123456789abcdef0123456789ab", **naming)
    app.config["SECRET_KEY_FALLBACKS"] = SECRET  # a str, set after init_app
    rotated = app.test_client()
    rotated.set_cookie("session", credential_of(client))
    assert rotated.get("/get/k").json["value"] == "'v'"
    # A token forged under a one-character "secret" must not open.
    forger = make_app("jwt", SECRET_KEY=SECRET[0], **naming)
    forged = forger.test_client()
    forged.post("/set/k/forged")
    victim = app.test_client()
    victim.set_cookie("session", credential_of(forged))
    assert victim.get("/get/k").json["new"] is True


def test_reprs_hold_no_secret(make_app: AppFactory, redis_server: t.Any) -> None:
    app = make_app(
        "server",
        HYBRID_SESSION_ENCRYPTION_KEYS=[b"K" * 32],
        HYBRID_SESSION_NAMING_KEY=b"N" * 32,
        HYBRID_SESSION_REDIS_URL=redis_server.url.replace("redis://", "redis://:pw-secret@"),
    )
    settings = app.session_interface.settings  # type: ignore[attr-defined]
    text = repr(settings)
    assert "KKKK" not in text and "NNNN" not in text and "pw-secret" not in text
    ring = build_keyring((SECRET.encode(),), None, "HS256")
    assert ring.encryption[0].key.hex() not in repr(ring)
    seen: list[str] = []
    # The session state of a request, on an app whose Redis needs no password.
    app = make_app("server")

    @app.get("/state")
    def state() -> str:
        seen.append(repr(session._state))  # type: ignore[attr-defined]
        return "ok"

    client = app.test_client()
    client.set_cookie("session", "v1." + "A" * 64)
    client.get("/state")
    assert "AAAA" not in seen[0]
