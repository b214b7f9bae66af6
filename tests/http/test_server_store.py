"""server mode on a real Redis: layout, encryption at rest, partial writes."""

from __future__ import annotations

import base64
import re
import typing as t

import redis
from flask import Flask
from flask import session

from flask_hybridsession.crypto import token_hash

from ..conftest import AppFactory
from .support import credential_of
from .support import server_sid
from .support import session_key


def test_token_format_and_entropy(server_app: Flask) -> None:
    tokens = set()
    for _ in range(200):
        client = server_app.test_client()
        client.post("/set/k/v")
        tokens.add(credential_of(client))
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith("v1.")
        assert len(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))) == 48


def test_redis_holds_no_token_no_value_no_key_name(server_app: Flask, rdb: redis.Redis) -> None:
    client = server_app.test_client()
    client.post("/set/secret-key-name/marker-secret")
    token = credential_of(client)
    sid = server_sid(token)
    keys = t.cast(list[bytes], rdb.keys("*{s:*"))
    assert keys == [session_key(sid).encode()]
    dump = b"".join(keys)
    fields = t.cast(dict[bytes, bytes], rdb.hgetall(keys[0]))
    dump += b"".join(k + v for k, v in fields.items())
    for needle in (b"marker-secret", b"secret-key-name", token.encode(), token[3:].encode()):
        assert needle not in dump
        assert base64.b64encode(needle) not in dump
        assert needle.hex().encode() not in dump
    assert fields[b"t"] == token_hash(token)
    # t, a, l, m: token hash, clocks, sealed metadata; e: its record's epoch.
    fixed = {b"t", b"a", b"l", b"m", b"e"}
    assert set(fields) - fixed and all(len(name) == 16 for name in set(fields) - fixed)
    assert fields[b"e"].isdigit()


def test_same_data_twice_gives_different_blobs(server_app: Flask, rdb: redis.Redis) -> None:
    blobs = []
    for _ in range(2):
        client = server_app.test_client()
        client.post("/set/k/v")
        fields = rdb.hgetall(session_key(server_sid(credential_of(client))))
        blobs.append({v for k, v in fields.items() if len(k) == 16})
    assert blobs[0] and blobs[0].isdisjoint(blobs[1])


def test_ttl_follows_absolute_lifetime(make_app: AppFactory, rdb: redis.Redis) -> None:
    app = make_app("server", HYBRID_SESSION_ABSOLUTE_TIMEOUT=600)
    client = app.test_client()
    client.post("/set/k/v")
    ttl = rdb.ttl(session_key(server_sid(credential_of(client))))
    assert 598 <= ttl <= 600


def test_ttl_follows_idle_timeout(make_app: AppFactory, rdb: redis.Redis) -> None:
    app = make_app("server", HYBRID_SESSION_IDLE_TIMEOUT=120, HYBRID_SESSION_ABSOLUTE_TIMEOUT=600)
    client = app.test_client()
    client.post("/set/k/v")
    ttl = rdb.ttl(session_key(server_sid(credential_of(client))))
    assert 118 <= ttl <= 120


def test_write_touches_only_changed_fields(server_app: Flask, rdb: redis.Redis) -> None:
    client = server_app.test_client()
    client.post("/set/a/1")
    client.post("/set/b/2")
    key = session_key(server_sid(credential_of(client)))
    before = rdb.hgetall(key)
    client.post("/set/b/3")
    after = rdb.hgetall(key)
    changed = {k for k in before if before[k] != after.get(k)}
    # b's field changes, and the idle/absolute clocks; a's field and the meta stay.
    assert len([k for k in changed if len(k) == 16]) == 1
    assert before[b"m"] == after[b"m"]


def test_deleted_key_removes_its_field(server_app: Flask, rdb: redis.Redis) -> None:
    @server_app.post("/del/<key>")
    def delete(key: str) -> str:
        session.pop(key, None)
        return "ok"

    client = server_app.test_client()
    client.post("/set/a/1")
    client.post("/set/b/2")
    key = session_key(server_sid(credential_of(client)))
    assert len([f for f in rdb.hkeys(key) if len(f) == 16]) == 2
    client.post("/del/a")
    assert len([f for f in rdb.hkeys(key) if len(f) == 16]) == 1
    assert client.get("/get/a").json["value"] == "None"
    assert client.get("/get/b").json["value"] == "'2'"


def test_unix_socket_url(make_app: AppFactory, unix_redis_server: t.Any) -> None:
    app = make_app("server", HYBRID_SESSION_REDIS_URL=unix_redis_server.url)
    client = app.test_client()
    client.post("/set/k/v")
    assert client.get("/get/k").json["value"] == "'v'"
    assert len(unix_redis_server.client().keys("hs:{s:*")) == 1
    unix_redis_server.client().flushall()


def test_ready_client_is_used(make_app: AppFactory, redis_server: t.Any, rdb: redis.Redis) -> None:
    app = make_app(
        "server", HYBRID_SESSION_REDIS=redis_server.client(), HYBRID_SESSION_REDIS_URL=None
    )
    client = app.test_client()
    client.post("/set/k/v")
    assert len(rdb.keys("hs:{s:*")) == 1


def test_key_prefix(make_app: AppFactory, rdb: redis.Redis) -> None:
    app = make_app("server", HYBRID_SESSION_KEY_PREFIX="shop:sess:")
    client = app.test_client()
    client.post("/set/k/v")
    [key] = rdb.keys("*{s:*")
    assert key.startswith(b"shop:sess:{s:")  # type: ignore[arg-type]


def test_testing_helper_names_the_keys(server_app: Flask, rdb: redis.Redis) -> None:
    from flask_hybridsession.testing import redis_keys

    client = server_app.test_client()
    client.post("/set/k/v")
    sid = client.get("/get/k").json["sid"]
    keys = redis_keys(server_app, sid)
    assert rdb.exists(keys.session) == 1
    client.post("/clear")
    assert rdb.exists(keys.session) == 0
    # A guest's clear leaves no tombstone (a flood of guests writes nothing);
    # revoke(sid) leaves one.
    assert rdb.exists(keys.revoked) == 0
    with server_app.test_request_context():
        server_app.extensions["hybrid_session"].revoke(sid)
    assert rdb.exists(keys.revoked) == 1
    assert 0 < rdb.pttl(keys.revoked) <= 31 * 24 * 3600 * 1000 + 1000


#: The keys of a prefix that have no TTL: its 64 revocation records, its naming key.
PREFIX_KEYS: t.Final = re.compile(rb"[^{]*(\{r:\d+\}|naming-key)")


def test_no_key_is_immortal(make_app: AppFactory, mode: str, rdb: redis.Redis) -> None:
    app = make_app(mode)
    client = app.test_client()
    client.post("/set/k/v")
    client.post("/clear")
    client.post("/set/k/v")
    keys = t.cast(list[bytes], rdb.keys("*"))
    assert keys
    # The prefix's fixed keys (its revocation records and naming key) have
    # none: their loss is what the checks detect. Their number is bounded.
    assert all(rdb.ttl(key) > 0 for key in keys if not PREFIX_KEYS.fullmatch(key))
