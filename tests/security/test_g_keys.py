"""G. Keys and rotation: HS-42 and HS-43."""

from __future__ import annotations

import base64
import typing as t

import pytest
import redis
from flask import Flask

from flask_hybridsession.testing import redis_keys

from ..conftest import SECRET
from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import assert_fresh
from ..forging import body
from ..forging import hmac_signature
from ..forging import jws
from ..forging import present
from ..forging import read_jwt
from ..forging import segment
from .support import MODES
from .support import Held
from .support import login
from .support import ring
from .support import start

NEW_SECRET: t.Final = "rotated-secret-0123456789abcdef0123456789ab"


def _session(app: Flask, mode: str, via: Via) -> Held:
    held = start(app, via, "/big" if mode == "auto" else "/set/k/v")
    if mode == "auto":
        held = held.then(held.post("/set/k/v"))
    return held


def _blob_kids(rdb: redis.Redis, app: Flask, sid: str) -> set[bytes]:
    stored = t.cast(dict[bytes, bytes], rdb.hgetall(redis_keys(app, sid).session))
    # t, a, l: token hash and clocks; e, u, g: the proofs, in clear.
    clear = (b"t", b"a", b"l", b"e", b"u", b"g")
    return {blob[1:5] for field, blob in stored.items() if field not in clear}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs42_key_ring_rotation(
    make_sec_app: AppFactory, mode: str, via: Via, rdb: redis.Redis
) -> None:
    old_ring, new_ring = ring(SECRET), ring(NEW_SECRET)
    k1 = make_sec_app(mode)
    touched, untouched = _session(k1, mode, via), _session(k1, mode, via)
    rotated = make_sec_app(mode, SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[SECRET])
    k2_only = make_sec_app(mode, SECRET_KEY=NEW_SECRET)

    # Retired keys still verify and decrypt.
    moved = Held(rotated, touched.credential, via, touched.sid)
    assert body(moved.get())["value"] == "'v'"
    # One write: everything it issues or stores is under the primary key.
    after = moved.then(moved.post("/set/k/w"))
    assert after.sid == touched.sid
    if after.credential.count(".") == 2:
        assert read_jwt(after.credential)[0]["kid"] == new_ring.signing[0][0]
        assert read_jwt(touched.credential)[0]["kid"] == old_ring.signing[0][0]
    else:
        assert _blob_kids(rdb, rotated, after.sid) == {new_ring.encryption[0].kid}
    # The primary key alone opens what the rotated app issued.
    assert body(Held(k2_only, after.credential, via, after.sid).get())["value"] == "'w'"
    # Dropping K1 ends what only K1 protected: anonymous, never a 5xx.
    assert_fresh(present(k2_only, untouched.credential, via), untouched.sid)
    if mode == "jwt":
        assert_fresh(present(k2_only, touched.credential, via), touched.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs42_unknown_kid_is_refused(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, via: Via
) -> None:
    held, _ = login(jwt_issuer, "alice", via)
    header, claims = read_jwt(held.credential)
    key = ring().signing[0][1]
    receiver = make_sec_app(mode)
    assert present(receiver, jws(header, claims, key), via, path="/me").text == "alice"
    for kid in ("AAAAAAAA", ring(NEW_SECRET).signing[0][0], ""):
        forged = jws({**header, "kid": kid}, claims, key)
        assert present(receiver, forged, via, path="/me").status_code == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs42_a_credential_of_another_secret_opens_fresh(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """Issued by an app of the same mode under another SECRET_KEY (and no fallback).

    Two apps of different secrets share a prefix only with a configured naming
    key: a stored one of the other app's refuses ``init_app`` (HS-50).
    """
    shared = {"HYBRID_SESSION_NAMING_KEY": b"N" * 32}
    victim = start(make_sec_app(mode, SECRET_KEY=NEW_SECRET, **shared))
    assert_fresh(present(make_sec_app(mode, **shared), victim.credential, via), victim.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs42_a_jwt_of_another_secret_relabelled_with_our_kid_opens_fresh(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """The kid picks the key, it does not vouch for the signature."""
    shared = {"HYBRID_SESSION_NAMING_KEY": b"N" * 32}
    victim = start(make_sec_app("jwt", SECRET_KEY=NEW_SECRET, **shared))
    header, _ = read_jwt(victim.credential)
    assert header["kid"] != ring().signing[0][0]
    ours = segment({**header, "kid": ring().signing[0][0]})
    _, payload, signature = victim.credential.split(".")
    forged = f"{ours}.{payload}.{signature}"
    assert_fresh(present(make_sec_app(mode, **shared), forged, via), victim.sid)


def test_hs43_the_tests_key_ring_signs_as_the_app_does(jwt_issuer: Flask) -> None:
    """What every forgery here rests on: the ring a test derives from
    SECRET_KEY (:func:`ring`) holds the very key the app signs with."""
    token = start(jwt_issuer).credential
    header, _ = read_jwt(token)
    kid, key = ring().signing[0]
    assert header["kid"] == kid
    signing_input, signature = token.rsplit(".", 1)
    assert hmac_signature(signing_input, key) == signature
    assert hmac_signature(signing_input, ring(NEW_SECRET).signing[0][1]) != signature


@pytest.mark.parametrize("mode", MODES)
def test_hs43_keys_are_separated_per_purpose(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str
) -> None:
    keys = ring()
    signing = keys.signing[0][1]
    purposes = [signing, keys.encryption[0].key, keys.remember_keys[0], keys.token_key]
    assert len(set(purposes)) == len(purposes)
    assert SECRET.encode() not in purposes
    held, _ = login(jwt_issuer, "alice", "bearer")
    header, claims = read_jwt(held.credential)
    receiver = make_sec_app(mode)
    assert present(receiver, jws(header, claims, signing), "bearer", path="/me").text == "alice"
    for other in [SECRET.encode(), *purposes[1:]]:
        forged = jws(header, claims, other)
        assert present(receiver, forged, "bearer", path="/me").status_code == 401


@pytest.mark.parametrize("mode", MODES)
def test_hs43_key_material_never_in_a_repr(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(
        mode, HYBRID_SESSION_ENCRYPTION_KEYS=[b"E" * 32], HYBRID_SESSION_NAMING_KEY=b"N" * 32
    )
    keys = ring()
    material = [SECRET.encode(), b"E" * 32, b"N" * 32, keys.signing[0][1], keys.token_key]
    texts = [repr(app.session_interface), repr(app.session_interface.settings), repr(keys)]  # type: ignore[attr-defined]
    for text in texts:
        for key in material:
            for form in (
                key,
                key.hex().encode(),
                base64.b64encode(key),
                base64.urlsafe_b64encode(key),
            ):
                assert form.decode("latin-1")[:16] not in text
