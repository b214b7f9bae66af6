"""Races and replays: concurrent requests on one session, a retried write, an ended session."""

from __future__ import annotations

import threading
import typing as t

import redis
from flask import Flask
from flask import session

from flask_hybridsession.keys import KeyNames
from flask_hybridsession.stores.redis_client import RedisBackend

from ..conftest import AppFactory
from .support import credential_of
from .support import server_sid
from .support import session_key


def test_parallel_requests_after_switch_to_server_keep_the_session(
    make_app: AppFactory,
) -> None:
    client = make_app("jwt").test_client()
    client.post("/set/k/v")
    jwt_credential = credential_of(client)
    server_app = make_app("server")
    arrived, release = threading.Barrier(2, timeout=10), threading.Event()

    @server_app.post("/both/<key>")
    def both(key: str) -> str:
        session[key] = "x"
        arrived.wait()
        release.wait(10)
        return "ok"

    results: dict[str, t.Any] = {}

    def run(key: str) -> None:
        worker = server_app.test_client()
        worker.set_cookie("session", jwt_credential)
        response = worker.post(f"/both/{key}")
        results[key] = (response.status_code, worker.get_cookie("session"))

    threads = [threading.Thread(target=run, args=(k,)) for k in ("a", "b")]
    for thread in threads:
        thread.start()
    release.set()  # both have loaded the session by the barrier; now both save
    for thread in threads:
        thread.join(10)
    assert {code for code, _ in results.values()} == {200}
    # Both responses carry the same server token, derived from the JWT.
    assert len({cookie.value for _, cookie in results.values()}) == 1
    for _, cookie in results.values():
        assert cookie is not None
        reader = server_app.test_client()
        reader.set_cookie("session", cookie.value)
        assert reader.get("/get/k").json["value"] == "'v'"


def test_replayed_write_counts_as_done(redis_server: t.Any, rdb: redis.Redis) -> None:
    backend = RedisBackend(redis_server.client(), KeyNames("hs:"))
    create = backend.write(
        "A" * 22,
        expect=None,
        token_hash=b"t1",
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"m": b"meta"},
    )
    assert backend.run([create]) == [[1]]
    assert backend.run([create]) == [[1]]  # the same write, retried
    update = backend.write(
        "A" * 22,
        expect=b"t1",
        token_hash=b"t2",
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"x" * 16: b"value"},
    )
    assert backend.run([update]) == [[1]]
    assert backend.run([update]) == [[1]]
    stale = backend.write(
        "A" * 22,
        expect=b"t0",
        token_hash=None,
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"y" * 16: b"value"},
    )
    assert backend.run([stale]) == [[0]]
    backend.run([backend.end("A" * 22, 10_000)])
    assert backend.run([update]) == [[-1]]


def test_concurrent_requests_keep_each_others_keys(server_app: Flask) -> None:
    client = server_app.test_client()
    client.post("/set/seed/1")
    token = credential_of(client)
    errors: list[BaseException] = []

    def hammer(key: str) -> None:
        worker = server_app.test_client()
        worker.set_cookie("session", token)
        try:
            for _ in range(60):
                assert worker.post(f"/incr/{key}").status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    # Each key only ever had one writer, so each reached 60; neither
    # request's write clobbered the other key.
    assert client.get("/get/x").json["value"] == "60"
    assert client.get("/get/y").json["value"] == "60"
    assert client.get("/get/seed").json["value"] == "'1'"


def test_write_after_session_ended_does_not_resurrect(server_app: Flask, rdb: redis.Redis) -> None:
    started, release = threading.Event(), threading.Event()

    @server_app.post("/slow")
    def slow() -> str:
        session["late"] = "write"
        started.set()
        release.wait(10)
        return "ok"

    client = server_app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    key = session_key(server_sid(token))

    def slow_request() -> None:
        worker = server_app.test_client()
        worker.set_cookie("session", token)
        worker.post("/slow")

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert started.wait(10)
    client.post("/clear")  # ends the session while /slow is in flight
    release.set()
    thread.join(10)
    assert not rdb.exists(key)
    replay = server_app.test_client()
    replay.set_cookie("session", token)
    assert replay.get("/get/late").json["new"] is True
