"""F. The server-side store and payload crypto: HS-36 to HS-41.

Where a test writes into Redis it finds the keys by the public helper
:func:`flask_hybridsession.testing.redis_keys` or by SCAN, as an attacker with
Redis access would. Sealing a pickle (HS-38) uses the key ring the test derives
from its own ``SECRET_KEY``, with a positive control that the same sealing path
opens when the plaintext is the session's own.
"""

from __future__ import annotations

import base64
import collections.abc as cabc
import functools
import hmac
import json
import logging
import os
import pathlib
import pickle
import re
import tempfile
import time
import typing as t

import pytest
import redis
from flask import Flask

from flask_hybridsession.crypto import field_name
from flask_hybridsession.testing import redis_keys

from ..conftest import SECRET
from ..conftest import AppFactory
from ..conftest import RedisServer
from ..conftest import running
from ..forging import VIAS
from ..forging import Minted
from ..forging import Via
from ..forging import assert_fresh
from ..forging import b64d
from ..forging import b64e
from ..forging import body
from ..forging import jws
from ..forging import present
from ..forging import read_jwt
from .support import MODES
from .support import Held
from .support import RedisType
from .support import assert_opens
from .support import login
from .support import redis_values
from .support import replace_with
from .support import ring
from .support import start
from .support import with_clock

#: The hash fields of a server session that are not session keys.
FIXED_FIELDS: t.Final = {b"t", b"a", b"l", b"m", b"e", b"u", b"g"}


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
@pytest.mark.parametrize("moved", [("ct",), ("ct", "jti"), ("ct", "sid")], ids="+".join)
def test_hs37_ciphertext_moved_between_jwts_opens_nothing(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, via: Via, moved: tuple[str, ...]
) -> None:
    """``ct`` opens only under its own sid and jti, whatever else moves with it."""
    a, b = start(jwt_issuer, path="/set/k/alpha"), start(jwt_issuer, path="/set/k/beta")
    (header, a_claims), (_, b_claims) = read_jwt(a.credential), read_jwt(b.credential)
    key = ring().signing[0][1]
    receiver = make_sec_app(mode)
    assert body(present(receiver, jws(header, b_claims, key), via))["value"] == "'beta'"
    forged = jws(header, {**b_claims, **{n: a_claims[n] for n in moved}}, key)
    assert_fresh(present(receiver, forged, via), a.sid, b.sid)


#: A validly signed JWT whose claims no longer match what ``ct`` was sealed for.
CLAIM_FORGERIES: t.Final[dict[str, t.Callable[[Minted], str]]] = {
    "sid-malformed": lambda m: m.resign(claims=m.claim(sid="short")),
    "sid-other": lambda m: m.resign(claims=m.claim(sid=b64e(os.urandom(16)))),
    "jti-other": lambda m: m.resign(claims=m.claim(jti=b64e(os.urandom(16)))),
    "ct-random": lambda m: m.resign(claims=m.claim(ct=b64e(os.urandom(80)))),
    "ct-truncated": lambda m: m.resign(claims=m.claim(ct=m.claims["ct"][:-8])),
    "ct-not-base64": lambda m: m.resign(claims=m.claim(ct="!!not base64!!")),
    "ct-number": lambda m: m.resign(claims=m.claim(ct=5)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forgery", list(CLAIM_FORGERIES))
def test_hs37_a_jwt_with_another_sid_jti_or_ct_opens_nothing(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, forgery: str
) -> None:
    app = make_sec_app(mode)
    assert_opens(app, minted.resign(), minted.sid, via)  # positive control
    assert_fresh(present(app, CLAIM_FORGERIES[forgery](minted), via), minted.sid)


#: Garbage written into a live server session's keys: ``(rdb, app, sid)``.
Corruption = t.Callable[[redis.Redis, Flask, str], None]


def _data_field(rdb: redis.Redis, app: Flask, sid: str) -> bytes:
    """The one data field (session key k) of a session holding only k."""
    [field] = data_fields(rdb, app, sid)
    return field


def _set_field(name: bytes | None, value: t.Callable[[bytes], bytes]) -> Corruption:
    """Replace one field of the hash (``None``: the data field) with ``value(old)``."""

    def corrupt(rdb: redis.Redis, app: Flask, sid: str) -> None:
        key = redis_keys(app, sid).session
        field = _data_field(rdb, app, sid) if name is None else name
        rdb.hset(key, field, value(t.cast(bytes, rdb.hget(key, field))))

    return corrupt


def _flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


def _hdel(name: str) -> Corruption:
    def corrupt(rdb: redis.Redis, app: Flask, sid: str) -> None:
        rdb.hdel(redis_keys(app, sid).session, name)

    return corrupt


def _extra_field(rdb: redis.Redis, app: Flask, sid: str) -> None:
    rdb.hset(redis_keys(app, sid).session, os.urandom(16), os.urandom(40))


def _replace(kind: RedisType) -> Corruption:
    def corrupt(rdb: redis.Redis, app: Flask, sid: str) -> None:
        replace_with(rdb, redis_keys(app, sid).session, kind)

    return corrupt


def _mark_as_hash(rdb: redis.Redis, app: Flask, sid: str) -> None:
    rdb.hset(redis_keys(app, sid).revoked, "x", "garbage")


CHANGED: t.Final = [
    pytest.param(_set_field(b"m", lambda old: os.urandom(64)), id="meta-random"),
    pytest.param(_set_field(b"m", lambda old: b""), id="meta-empty"),
    pytest.param(_set_field(b"m", lambda old: old[:5]), id="meta-truncated-5B"),
    pytest.param(_set_field(b"m", _flip_last_byte), id="meta-one-bit"),
    pytest.param(_hdel("m"), id="meta-missing"),
    pytest.param(_set_field(None, lambda old: os.urandom(64)), id="field-random"),
    pytest.param(_set_field(None, lambda old: old[:5]), id="field-truncated-5B"),
    pytest.param(_set_field(None, _flip_last_byte), id="field-one-bit"),
    pytest.param(_extra_field, id="extra-field-random"),
    pytest.param(_hdel("t"), id="token-hash-missing"),
    pytest.param(_set_field(b"a", lambda old: b"soon"), id="deadline-not-a-number"),
    pytest.param(_hdel("a"), id="deadline-missing"),
    pytest.param(_replace("string"), id="wrong-type-string"),
    pytest.param(_replace("list"), id="wrong-type-list"),
    pytest.param(_replace("set"), id="wrong-type-set"),
    pytest.param(_replace("zset"), id="wrong-type-zset"),
    pytest.param(_mark_as_hash, id="revocation-mark-wrong-type"),
]


def assert_corrupted_entry_opens_fresh(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, corrupt: Corruption
) -> None:
    """A server session whose Redis entry ``corrupt`` changed opens fresh in ``mode``."""
    server = make_sec_app("server")
    victim, control = start(server), start(server)
    app = make_sec_app(mode)
    # Positive control on another session (a jwt-mode app moves what it opens
    # into a JWT, and the Redis entry with it).
    assert_opens(app, control.credential, control.sid)
    corrupt(rdb, server, victim.sid)
    for via in VIAS:
        assert_fresh(present(app, victim.credential, via), victim.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("corrupt", CHANGED)
def test_hs37_a_changed_or_garbage_redis_entry_opens_a_fresh_session(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, corrupt: Corruption
) -> None:
    """A server session whose Redis entry was changed, presented to an app of each mode."""
    assert_corrupted_entry_opens_fresh(make_sec_app, mode, rdb, corrupt)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "move",
    ["a-data-field-into-b", "a-meta-over-b-meta", "a-meta-and-fields-into-b", "b-fields-swapped"],
)
def test_hs37_sealed_value_moved_between_sessions_opens_nothing(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, move: str
) -> None:
    """A blob opens only under its own session and field: moved from session A
    into B, or swapped between B's own fields."""
    server = make_sec_app("server")
    a = start(server, path="/set/k/alpha")
    b = start(server, path="/set/k/beta")
    b = b.then(b.post("/set/j/gamma"))
    a_key, b_key = redis_keys(server, a.sid).session, redis_keys(server, b.sid).session
    a_fields, b_fields = data_fields(rdb, server, a.sid), data_fields(rdb, server, b.sid)
    assert len(a_fields) == 1
    assert len(b_fields) == 2
    a_meta = t.cast(bytes, rdb.hget(a_key, "m"))

    if move == "a-data-field-into-b":
        rdb.hset(b_key, mapping=t.cast(dict[t.Any, bytes], a_fields))
    elif move == "a-meta-over-b-meta":
        rdb.hset(b_key, "m", a_meta)
    elif move == "a-meta-and-fields-into-b":
        rdb.hdel(b_key, *b_fields)
        rdb.hset(b_key, mapping=t.cast(dict[t.Any, bytes], {b"m": a_meta, **a_fields}))
    else:
        (f1, v1), (f2, v2) = b_fields.items()
        rdb.hset(b_key, mapping={f1: v2, f2: v1})

    app = make_sec_app(mode)
    for via in VIAS:
        assert_fresh(present(app, b.credential, via), a.sid, b.sid)
        assert body(present(app, b.credential, via, path="/get/j"))["value"] == "None"
    assert_opens(app, a.credential, a.sid, value="'alpha'")


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


def _seal_meta(plaintext: bytes) -> Corruption:
    """A meta blob that decrypts (the session's own sid and place), holding ``plaintext``."""

    def corrupt(rdb: redis.Redis, app: Flask, sid: str) -> None:
        rdb.hset(redis_keys(app, sid).session, "m", ring().seal(sid, b"meta", plaintext))

    return corrupt


def _seal_field(plaintext: bytes) -> Corruption:
    """The data field sealed right (its sid, its field name) around ``plaintext``."""

    def corrupt(rdb: redis.Redis, app: Flask, sid: str) -> None:
        field = _data_field(rdb, app, sid)
        sealed = ring().seal(sid, b"field|" + field, plaintext)
        rdb.hset(redis_keys(app, sid).session, field, sealed)

    return corrupt


UNPARSABLE: t.Final = [
    pytest.param(_seal_meta(b"not json"), id="meta-sealed-not-json"),
    pytest.param(_seal_meta(b"[1, 2]"), id="meta-sealed-json-array"),
    pytest.param(_seal_meta(b'{"c": 1, "s": "not bytes"}'), id="meta-sealed-salt-not-bytes"),
    pytest.param(
        _seal_meta(b'{"c": 1, "s": {" b": "' + base64.b64encode(bytes(16)) + b'"}}'),
        id="meta-sealed-other-salt",
    ),
    pytest.param(_seal_field(b"\x00\x01k{not json"), id="field-sealed-not-json"),
    pytest.param(_seal_field(b'\x00\x05other"victim"'), id="field-sealed-other-name"),
    pytest.param(_seal_field(b"\xff\xff"), id="field-sealed-name-overflow"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("corrupt", UNPARSABLE)
def test_hs38_a_sealed_but_unparsable_redis_entry_opens_a_fresh_session(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, corrupt: Corruption
) -> None:
    """Data that decrypts (sealed with the app's own key) but does not parse."""
    assert_corrupted_entry_opens_fresh(make_sec_app, mode, rdb, corrupt)


def _salt(rdb: redis.Redis, app: Flask, sid: str) -> bytes:
    """The field-name salt in the sealed metadata of ``sid``'s hash."""
    sealed = t.cast(bytes, rdb.hget(redis_keys(app, sid).session, "m"))
    plaintext, _ = ring().open(sid, b"meta", sealed)
    return base64.b64decode(json.loads(plaintext)["s"][" b"])  # Flask's tag of bytes


def _named(rdb: redis.Redis, app: Flask, sid: str) -> dict[str, bytes]:
    """Each session key of ``sid``'s hash (read from inside its sealed field) and its field."""
    named = {}
    for field, blob in data_fields(rdb, app, sid).items():
        plaintext, _ = ring().open(sid, b"field|" + field, blob)
        named[plaintext[2 : 2 + int.from_bytes(plaintext[:2], "big")].decode()] = field
    return named


@pytest.mark.parametrize("mode", ["server", "auto"])
def test_hs37_field_names_are_hmacs_under_the_sessions_own_salt(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    held = server_session(app, mode)
    other = server_session(app, mode)
    salt = _salt(rdb, app, held.sid)
    assert len(salt) == 16
    assert salt != _salt(rdb, app, other.sid)
    named = _named(rdb, app, held.sid)
    assert set(named) == {"k"} | ({"big"} if mode == "auto" else set())
    assert all(field == field_name(salt, name) for name, field in named.items())
    assert all(
        field == hmac.digest(salt, name.encode(), "sha256")[:16] for name, field in named.items()
    )
    # The same key in another session has another name: Redis cannot join them.
    assert named["k"] != _named(rdb, app, other.sid)["k"]


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
    # The exception, by design (SPEC 2026-12-04): a prefix's revocation
    # records and its naming key, a bounded set whose loss the checks detect.
    fixed = re.compile(rb"hs:(\{r:\d+\}|naming-key)")
    assert immortal and all(fixed.fullmatch(key) for key in immortal)
    assert len(immortal) <= 65


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
    with running(functools.partial(RedisServer, persist=True), "hs-sec-") as server:
        yield server


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
