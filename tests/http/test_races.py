"""Races, replays and edge cases found in review."""

from __future__ import annotations

import threading
import typing as t

import pytest
import redis
from flask import session

from flask_hybridsession import ConfigurationError
from flask_hybridsession import SessionTooLarge
from flask_hybridsession.crypto import build_keyring
from flask_hybridsession.keys import KeyNames
from flask_hybridsession.stores.redis_client import RedisBackend

from ..conftest import SECRET
from ..conftest import AppFactory


def _credential(client: t.Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return t.cast(str, cookie.value)


def test_fallbacks_given_as_one_string_are_refused_at_init(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY_FALLBACKS.*list"):
        make_app("jwt", SECRET_KEY_FALLBACKS="old-secret-0123456789abcdef0123456789")


def test_fallbacks_string_set_later_is_one_secret_not_many(make_app: AppFactory) -> None:
    old = make_app("jwt")
    client = old.test_client()
    client.post("/set/k/v")
    app = make_app("jwt", SECRET_KEY="new-secret-0123456789abcdef0123456789ab")
    app.config["SECRET_KEY_FALLBACKS"] = SECRET  # a str, set after init_app
    rotated = app.test_client()
    rotated.set_cookie("session", _credential(client))
    assert rotated.get("/get/k").json["value"] == "'v'"
    # A token forged under a one-character "secret" must not open.
    forger = make_app("jwt", SECRET_KEY=SECRET[0])
    forged = forger.test_client()
    forged.post("/set/k/forged")
    victim = app.test_client()
    victim.set_cookie("session", _credential(forged))
    assert victim.get("/get/k").json["new"] is True


def test_parallel_requests_after_switch_to_server_keep_the_session(
    make_app: AppFactory,
) -> None:
    client = make_app("jwt").test_client()
    client.post("/set/k/v")
    jwt_credential = _credential(client)
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
    assert backend.run([create]) == [1]
    assert backend.run([create]) == [1]  # the same write, retried
    update = backend.write(
        "A" * 22,
        expect=b"t1",
        token_hash=b"t2",
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"x" * 16: b"value"},
    )
    assert backend.run([update]) == [1]
    assert backend.run([update]) == [1]
    stale = backend.write(
        "A" * 22,
        expect=b"t0",
        token_hash=None,
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"y" * 16: b"value"},
    )
    assert backend.run([stale]) == [0]
    backend.run([backend.end("A" * 22, 10_000)])
    assert backend.run([update]) == [-1]


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


def test_large_server_session_after_switch_to_jwt_stays_in_redis(make_app: AppFactory) -> None:
    server_app = make_app("server")

    @server_app.post("/big")
    def big() -> str:
        session["blob"] = "x" * 6000
        return "ok"

    client = server_app.test_client()
    client.post("/big")
    jwt_app = make_app("jwt")

    @jwt_app.post("/grow")
    def grow() -> str:
        session["more"] = "y"
        return "ok"

    moved = jwt_app.test_client()
    moved.set_cookie("session", _credential(client))
    response = moved.get("/get/blob")
    assert response.status_code == 200
    assert response.json["value"] == repr("x" * 6000)
    assert "Set-Cookie" not in response.headers
    with pytest.raises(SessionTooLarge):
        moved.post("/grow")


def test_cookie_budget_never_exceeds_what_browsers_keep(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_MAX_COOKIE_BYTES"):
        make_app("jwt", MAX_COOKIE_SIZE=8192, HYBRID_SESSION_MAX_COOKIE_BYTES=6000)


def test_host_cookie_under_an_application_root_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="__Host-"):
        make_app(
            "jwt",
            SESSION_COOKIE_NAME="__Host-s",
            SESSION_COOKIE_SECURE=True,
            APPLICATION_ROOT="/shop",
        )


def test_unavailable_response_keeps_nothing_of_the_view(make_app: AppFactory) -> None:
    app = make_app("server")

    @app.post("/go")
    def go() -> t.Any:
        from flask import redirect

        session["k"] = "v"
        response = redirect("/elsewhere")
        response.headers["Cache-Control"] = "public, max-age=600"
        response.set_cookie("other", "x")
        return response

    app.session_interface.backend.client.connection_pool.connection_kwargs["port"] = 1  # type: ignore[attr-defined]
    app.session_interface.backend.client.connection_pool.reset()  # type: ignore[attr-defined]
    response = app.test_client().post("/go")
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
