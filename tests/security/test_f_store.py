"""F. The server-side store and payload crypto: HS-36 to HS-41.

Where a test writes into Redis it finds the keys by the public helper
:func:`flask_hybridsession.testing.redis_keys` or by SCAN, as an attacker with
Redis access would. Sealing a pickle (HS-38) uses the key ring the test derives
from its own ``SECRET_KEY``, with a positive control that the same sealing path
opens when the plaintext is the session's own.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import os
import pathlib
import pickle
import tempfile
import time
import typing as t

import pytest
import redis
from flask import Flask

from flask_hybridsession.testing import redis_keys

from ..conftest import SECRET
from ..conftest import AppFactory
from ..conftest import RedisServer
from .support import MODES
from .support import VIAS
from .support import Held
from .support import Via
from .support import assert_fresh
from .support import b64d
from .support import b64e
from .support import body
from .support import jws
from .support import login
from .support import present
from .support import read_jwt
from .support import redis_values
from .support import ring
from .support import start
from .support import with_clock

#: The hash fields of a server session that are not session keys.
FIXED_FIELDS: t.Final = {b"t", b"a", b"l", b"m"}


def server_session(app: Flask, mode: str, value: str = "v", via: Via = "cookie") -> Held:
    """A session that Redis holds (auto: pushed over the cookie budget first)."""
    held = start(app, via, "/big" if mode == "auto" else f"/set/k/{value}")
    if mode == "auto":
        held = held.then(held.post(f"/set/k/{value}"))
    assert held.credential.startswith("v1.")
    return held


def data_fields(rdb: redis.Redis, app: Flask, sid: str) -> dict[bytes, bytes]:
    stored = t.cast(dict[bytes, bytes], rdb.hgetall(redis_keys(app, sid).session))
    return {f: v for f, v in stored.items() if f not in FIXED_FIELDS}


def only_changed_field(before: dict[bytes, bytes], after: dict[bytes, bytes]) -> bytes:
    [field] = [f for f in after if before.get(f) != after[f]]
    return field


# HS-36: encrypted at rest, fresh nonce per write.


@pytest.mark.parametrize("mode", ["server", "auto"])
def test_hs36_redis_payloads_are_encrypted_with_fresh_nonces(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    marker = "marker-secret"
    held = server_session(app, mode, "other")
    before = data_fields(rdb, app, held.sid)
    held.post(f"/set/k/{marker}")
    first = data_fields(rdb, app, held.sid)
    field = only_changed_field(before, first)
    held.post("/set/k/other")
    held.post(f"/set/k/{marker}")
    second = data_fields(rdb, app, held.sid)
    assert body(held.get())["value"] == repr(marker)

    everything = b"".join(redis_values(rdb))
    for encoded in (
        marker.encode(),
        marker.encode().hex().encode(),
        b64e(marker.encode()).encode(),
    ):
        assert encoded not in everything
    blob_1, blob_2 = first[field], second[field]
    # The same plaintext under the same key, written twice: different blobs.
    assert blob_1 != blob_2
    assert len(blob_1) == len(blob_2)
    # Versioned header (version byte, 4-byte key id) then a 12-byte nonce.
    assert blob_1[0] == blob_2[0] == 1
    assert blob_1[1:5] == blob_2[1:5]
    assert blob_1[5:17] != blob_2[5:17]
    # 1 + 4 + 12 + 16 bytes of header, nonce and tag, no compression.
    assert len(blob_1) >= 33 + len(marker)


@pytest.mark.parametrize("mode", MODES)
def test_hs36_device_metadata_is_encrypted_too(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    response = app.test_client(use_cookies=False).post(
        "/login/alice", headers={"User-Agent": "marker-agent/1.0"}
    )
    assert response.status_code == 200
    everything = b"".join(redis_values(rdb))
    assert b"marker-agent" not in everything
    assert b"alice" not in everything


# HS-37: AAD binds a blob to its session and field.


@pytest.mark.parametrize("mode", ["server", "auto"])
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("change", ["moved-from-a", "meta-moved-from-a", "one-bit", "truncated-5B"])
def test_hs37_moved_or_changed_blob_opens_nothing(
    make_sec_app: AppFactory,
    mode: str,
    via: Via,
    change: str,
    rdb: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_sec_app(mode)
    a = server_session(app, mode, "alpha", via)
    b = server_session(app, mode, "beta", via)
    a_key, b_key = redis_keys(app, a.sid).session, redis_keys(app, b.sid).session
    a_fields, b_fields = data_fields(rdb, app, a.sid), data_fields(rdb, app, b.sid)
    if change == "moved-from-a":
        rdb.hdel(b_key, *b_fields)
        rdb.hset(b_key, mapping=t.cast(dict[t.Any, bytes], a_fields))
    elif change == "meta-moved-from-a":
        rdb.hset(b_key, "m", t.cast(bytes, rdb.hget(a_key, "m")))
    else:
        for field, blob in b_fields.items():
            damaged = blob[:-1] + bytes([blob[-1] ^ 1]) if change == "one-bit" else blob[:5]
            rdb.hset(b_key, field, damaged)
    with caplog.at_level(logging.INFO, logger="flask_hybridsession"):
        response = b.get()
    assert_fresh(response, a.sid, b.sid)
    assert "alpha" not in response.get_data(as_text=True)
    assert any(r.name == "flask_hybridsession.security" for r in caplog.records)
    assert body(a.get())["value"] == "'alpha'"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs37_ciphertext_moved_between_jwts_opens_nothing(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, via: Via
) -> None:
    a, b = start(jwt_issuer, path="/set/k/alpha"), start(jwt_issuer, path="/set/k/beta")
    (header, a_claims), (_, b_claims) = read_jwt(a.credential), read_jwt(b.credential)
    key = ring().signing[0][1]
    receiver = make_sec_app(mode)
    assert body(present(receiver, jws(header, b_claims, key), via))["value"] == "'beta'"
    for moved in (("ct",), ("ct", "jti"), ("ct", "sid")):
        forged = jws(header, {**b_claims, **{n: a_claims[n] for n in moved}}, key)
        response = present(receiver, forged, via)
        assert_fresh(response, a.sid, b.sid)


# HS-38: JSON only, never pickle.


class Touch:
    """Unpickling this creates ``path``: the proof a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[t.Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.fixture()
def marker_path(tmp_path: pathlib.Path) -> cabc.Iterator[str]:
    path = tmp_path / "pickle-ran"
    yield str(path)
    assert not path.exists(), "a pickle was loaded"


@pytest.mark.parametrize("mode", ["server", "auto"])
@pytest.mark.parametrize("where", ["meta-sealed", "field-sealed", "meta-raw", "field-raw"])
def test_hs38_a_sealed_pickle_in_redis_is_never_loaded(
    make_sec_app: AppFactory, mode: str, where: str, rdb: redis.Redis, marker_path: str
) -> None:
    app = make_sec_app(mode)
    held = server_session(app, mode)
    key = redis_keys(app, held.sid).session
    keys = ring()
    payload = pickle.dumps(Touch(marker_path))
    meta = t.cast(bytes, rdb.hget(key, "m"))
    # Positive control: the meta blob opens and re-seals under the test's ring.
    plaintext, _ = keys.open(held.sid, b"meta", meta)
    rdb.hset(key, "m", keys.seal(held.sid, b"meta", plaintext))
    assert body(held.get())["value"] == "'v'"

    if where == "meta-sealed":
        rdb.hset(key, "m", keys.seal(held.sid, b"meta", payload))
    elif where == "meta-raw":
        rdb.hset(key, "m", payload)
    else:
        for field in data_fields(rdb, app, held.sid):
            value = (
                keys.seal(held.sid, b"field|" + field, b"\x00\x01k" + payload)
                if where == "field-sealed"
                else payload
            )
            rdb.hset(key, field, value)
    for via in VIAS:
        assert_fresh(present(app, held.credential, via), held.sid)
    assert not os.path.exists(marker_path)


@pytest.mark.parametrize("mode", MODES)
def test_hs38_a_sealed_pickle_in_a_jwt_is_never_loaded(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, marker_path: str
) -> None:
    held = start(jwt_issuer)
    header, claims = read_jwt(held.credential)
    keys, key = ring(), ring().signing[0][1]
    context = b"jwt|" + claims["jti"].encode()
    receiver = make_sec_app(mode)
    # Positive control: the payload opens and re-seals under the test's ring.
    plaintext, _ = keys.open(held.sid, context, b64d(claims["ct"]))
    resealed = {**claims, "ct": b64e(keys.seal(held.sid, context, plaintext))}
    assert body(present(receiver, jws(header, resealed, key)))["value"] == "'v'"

    payload = pickle.dumps(Touch(marker_path))
    forged = {**claims, "ct": b64e(keys.seal(held.sid, context, payload))}
    for via in VIAS:
        assert_fresh(present(receiver, jws(header, forged, key), via), held.sid)
    assert not os.path.exists(marker_path)


# HS-39: every key has a TTL.


@pytest.mark.parametrize("mode", MODES)
def test_hs39_no_key_is_immortal(make_sec_app: AppFactory, mode: str, rdb: redis.Redis) -> None:
    app = make_sec_app(mode, REMEMBER_COOKIE_DURATION=3600)
    alice, _ = login(app, "alice", remember=True)
    bob, _ = login(app, "bob", "bearer")
    start(app, path="/big" if mode != "jwt" else "/set/k/v")
    alice.post("/reauth")
    bob.post("/logout")
    again, _ = login(app, "alice")
    again.post("/logout-all")
    with app.test_request_context():
        app.extensions["hybrid_session"].revoke("A" * 22)
    keys = list(rdb.scan_iter(count=1000))
    assert keys
    immortal = [key for key in keys if rdb.pttl(key) < 0]
    assert immortal == []


@pytest.mark.parametrize("mode", ["server", "auto"])
def test_hs39_session_ttl_is_min_of_idle_and_absolute(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    idle, absolute = 600, 1000
    app = make_sec_app(
        mode, HYBRID_SESSION_IDLE_TIMEOUT=idle, HYBRID_SESSION_ABSOLUTE_TIMEOUT=absolute
    )
    clock = with_clock(app)
    begin = clock.now
    held = server_session(app, mode)
    key = redis_keys(app, held.sid).session
    assert abs(rdb.pttl(key) - idle * 1000) <= 2000
    clock.now = begin + 500  # 500 s of absolute life left, idle 600
    held.post("/set/k/w")
    assert abs(rdb.pttl(key) - (absolute - 500) * 1000) <= 2000


# HS-40: Redis down fails closed.


@pytest.fixture()
def own_server() -> cabc.Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="hs-sec-") as workdir:
        server = RedisServer(workdir, persist=True)
        server.start()
        yield server
        server.stop()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs40_redis_down_fails_closed(
    own_server: RedisServer, mode: str, via: Via, caplog: pytest.LogCaptureFixture
) -> None:
    from .support import security_app

    timeout = 0.3
    app = security_app(
        mode,
        HYBRID_SESSION_REDIS_URL=own_server.url,
        HYBRID_SESSION_REDIS_TIMEOUT=timeout,
        HYBRID_SESSION_RETRY_AFTER=9,
    )
    held, _ = login(app, "alice", via)
    own_server.stop()
    with caplog.at_level(logging.DEBUG):
        for path, method in (("/me", "GET"), ("/set/k/w", "POST"), ("/", "GET")):
            began = time.monotonic()
            response = present(app, held.credential, via, method=method, path=path)
            elapsed = time.monotonic() - began
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == "9"
            assert "Set-Cookie" not in response.headers
            assert "X-Session-Token" not in response.headers
            # Connect timeout, one retry without backoff, and slack for a busy host.
            assert elapsed < 4 * timeout + 1.5
            assert held.credential not in response.get_data(as_text=True)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert held.credential not in caplog.text
    # A visitor without a credential needs no Redis where nothing is stored.
    anonymous = app.test_client(use_cookies=False).get("/")
    assert anonymous.status_code == 200


# HS-41: TLS and AUTH; no SECRET_KEY gives Flask's NullSession.


@pytest.mark.parametrize("mode", MODES)
def test_hs41_acl_user_and_password(redis_server: RedisServer, rdb: redis.Redis, mode: str) -> None:
    from .support import security_app

    password = b64e(os.urandom(18))
    rdb.acl_setuser(
        "hs-sec", enabled=True, passwords=["+" + password], keys=["*"], commands=["+@all"]
    )
    try:
        url = f"redis://hs-sec:{password}@127.0.0.1:{redis_server.port}/0"
        app = security_app(mode, HYBRID_SESSION_REDIS_URL=url)
        held, _ = login(app, "alice")
        assert held.me().text == "alice"
        # A wrong password is an unavailable store: 503, never a silent anonymous session.
        broken = security_app(mode, HYBRID_SESSION_REDIS_URL=url.replace(password, "wrong"))
        assert broken.test_client().post("/login/alice").status_code == 503
    finally:
        rdb.acl_deluser("hs-sec")


@pytest.fixture()
def tls_redis_url(redis_server: RedisServer) -> cabc.Iterator[str]:
    """``rediss://`` to a TLS Redis: HYBRID_SESSION_TEST_TLS_REDIS_URL, or a TLS
    proxy in front of the test Redis (its certificate is verified)."""
    configured = os.environ.get("HYBRID_SESSION_TEST_TLS_REDIS_URL")
    if configured:
        yield configured
        return
    from .tls import TlsProxy

    with tempfile.TemporaryDirectory(prefix="hs-tls-") as workdir:
        proxy = TlsProxy(workdir, redis_server.port)
        try:
            yield proxy.url
        finally:
            proxy.close()


@pytest.mark.parametrize("mode", MODES)
def test_hs41_rediss_url(tls_redis_url: str, rdb: redis.Redis, mode: str) -> None:
    from .support import security_app

    app = security_app(mode, HYBRID_SESSION_REDIS_URL=tls_redis_url)
    client = app.session_interface.backend.client  # type: ignore[attr-defined]
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    held, _ = login(app, "alice")
    assert held.me().text == "alice"
    assert held.post("/logout").status_code == 200
    assert held.me().status_code == 401
    # The session went through TLS to the real Redis behind it.
    assert rdb.exists(redis_keys(app, held.sid).revoked)
    # Without trusting the certificate, nothing is sent in clear: 503.
    untrusted = tls_redis_url.split("?")[0]
    refused = security_app(mode, HYBRID_SESSION_REDIS_URL=untrusted)
    assert refused.test_client().post("/login/alice").status_code == 503


@pytest.mark.parametrize("mode", MODES)
def test_hs41_no_secret_key_is_flasks_null_session(redis_url: str, mode: str) -> None:
    from .support import security_app

    app = security_app(mode, SECRET_KEY=None, HYBRID_SESSION_REDIS_URL=redis_url)
    client = app.test_client()
    assert client.get("/peek").text == "False"
    with pytest.raises(RuntimeError, match="session is unavailable"):
        client.post("/set/k/v")
    app.config["SECRET_KEY"] = SECRET  # set later: works, as with Flask's own session
    assert client.post("/set/k/v").status_code == 200
    assert client.get("/get/k").get_json()["value"] == "'v'"
