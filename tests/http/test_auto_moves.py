"""auto mode: a token while it fits, Redis when it outgrows the budget, and back."""

from __future__ import annotations

import typing as t

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ..conftest import MODES
from ..conftest import AppFactory
from .support import add_storage_routes
from .support import credential_of
from .support import session_key

BUDGET = 1000


def _auto_app(make_app: AppFactory, **config: t.Any) -> Flask:
    return add_storage_routes(make_app("auto", HYBRID_SESSION_MAX_COOKIE_BYTES=BUDGET, **config))


def _set_cookie_sizes(response: t.Any) -> list[int]:
    return [len(v) for v in response.headers.getlist("Set-Cookie") if v.startswith("session=")]


def test_grows_into_redis_and_shrinks_back(make_app: AppFactory, rdb: redis.Redis) -> None:
    app = _auto_app(make_app)
    client = app.test_client()
    client.post("/put/a/100")
    assert credential_of(client).count(".") == 2  # a JWT
    sid = client.get("/where").json["sid"]
    assert client.get("/where").json["storage"] == "jwt"
    assert rdb.keys("hs:{s:*") == []

    response = client.post("/put/b/900")  # past the budget: moved in this response
    assert credential_of(client).startswith("v1.")
    assert all(size <= BUDGET for size in _set_cookie_sizes(response))
    assert client.get("/where").json == {"storage": "server", "sid": sid, "keys": ["a", "b"]}
    assert rdb.exists(session_key(sid))

    client.post("/drop/b")  # far under 75 %: back into a token, Redis copy gone
    assert credential_of(client).count(".") == 2
    assert client.get("/where").json == {"storage": "jwt", "sid": sid, "keys": ["a"]}
    assert not rdb.exists(session_key(sid))


def test_no_flapping_between_three_quarters_and_the_budget(
    make_app: AppFactory, rdb: redis.Redis
) -> None:
    app = _auto_app(make_app)
    client = app.test_client()

    def storage_after(size: int) -> str:
        client.post(f"/put/a/{size}")
        return t.cast(str, client.get("/where").json["storage"])

    # A token carries about 1.8 bytes per character of data (encrypted, then
    # base64 twice) over a fixed ~440 bytes: 250 characters make ~880 bytes.
    assert storage_after(900) == "server"
    assert storage_after(250) == "server"  # between 75 % and 100 %: stays in Redis
    assert storage_after(100) == "jwt"  # under 75 %: back into a token
    assert storage_after(250) == "jwt"  # under the budget: stays a token
    assert storage_after(400) == "server"  # over it: into Redis


def test_small_sessions_write_nothing_to_redis(make_app: AppFactory, redis_server: t.Any) -> None:
    app = _auto_app(make_app)
    stats = redis_server.client()
    client = app.test_client()
    client.post("/put/a/50")
    client.get("/where")  # warm: scripts loaded
    before = stats.info("commandstats")
    for size in (10, 20, 30):
        client.post(f"/put/k{size}/{size}")
        client.get("/where")
    after = stats.info("commandstats")
    writes = {"cmdstat_hset", "cmdstat_set", "cmdstat_del", "cmdstat_pexpire", "cmdstat_hdel"}
    for name in writes:
        assert after.get(name, {"calls": 0})["calls"] == before.get(name, {"calls": 0})["calls"]


def test_pin_keeps_a_small_session_in_redis(make_app: AppFactory) -> None:
    app = _auto_app(make_app)
    client = app.test_client()
    client.post("/put/a/10")
    client.post("/pin")
    assert client.get("/where").json["storage"] == "server"
    client.post("/put/a/5")
    assert client.get("/where").json["storage"] == "server"


def test_pin_in_jwt_mode_is_an_error(make_app: AppFactory) -> None:
    from flask_hybridsession import HybridSessionError

    app = add_storage_routes(make_app("jwt"))
    with pytest.raises(HybridSessionError, match="pin"):
        app.test_client().post("/pin")


def test_auto_pin_login(make_login_app: AppFactory) -> None:
    app = make_login_app("auto", HYBRID_SESSION_AUTO_PIN_LOGIN=True)
    client = app.test_client()
    client.post("/set/k/v")
    assert credential_of(client).count(".") == 2
    client.post("/login/alice")
    assert credential_of(client).startswith("v1.")
    assert client.get("/me").text == "alice"


@pytest.mark.parametrize("where", ["jwt", "server"])
def test_revocation_and_devices_follow_moves(make_login_app: AppFactory, where: str) -> None:
    # Flask-Login's own keys (a 128-character _id among them) fill a small
    # budget: use the default one.
    app = add_storage_routes(make_login_app("auto"))
    client = app.test_client()
    client.post("/login/alice")
    old_jwt = credential_of(client)
    client.post("/grow")
    if where == "jwt":
        client.post("/shrink")
    credential = credential_of(client)
    assert credential.startswith("v1.") == (where == "server")
    [device] = client.get("/devices").json or []
    assert device["mode"] == where
    # The older token resolves to the moved session, never its stale copy...
    stale = app.test_client()
    stale.set_cookie("session", old_jwt)
    assert stale.get("/me").text == "alice"
    with app.app_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") == 1
    # ...and revocation ends every form of it.
    for token in (old_jwt, credential):
        replay = app.test_client()
        replay.set_cookie("session", token)
        assert replay.get("/me").status_code == 401


OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "drop", "read"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=700),
        st.sampled_from(MODES),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_rolling_mix_reads_back_the_model(make_app: AppFactory, ops: list[t.Any]) -> None:
    """Requests alternate between workers in different modes on one Redis, as in
    a rolling deploy; the session always reads back what a plain dict holds."""
    apps = {
        mode: _auto_app(make_app) if mode == "auto" else add_storage_routes(make_app(mode))
        for mode in MODES
    }
    model: dict[str, str] = {}
    credential: str | None = None
    for op, key, size, mode in ops:
        client = apps[mode].test_client()
        if credential:
            client.set_cookie("session", credential)
        if op == "put":
            response = client.post(f"/put/{key}/{size}")
            model[key] = "x" * size
        elif op == "drop":
            response = client.post(f"/drop/{key}")
            model.pop(key, None)
        else:
            response = client.get("/where")
        assert response.status_code == 200
        assert all(n <= 4093 for n in _set_cookie_sizes(response))
        cookie = client.get_cookie("session")
        credential = cookie.value if cookie is not None else (credential if model else None)
        if not model:
            credential = None
        reader = apps[mode].test_client()
        if credential:
            reader.set_cookie("session", credential)
        assert reader.get("/where").json["keys"] == sorted(model)


def test_pin_sticks_for_a_session_already_in_redis(make_app: AppFactory) -> None:
    app = _auto_app(make_app)
    client = app.test_client()
    client.post("/put/a/900")
    assert client.get("/where").json["storage"] == "server"
    client.post("/pin")
    client.post("/put/a/5")  # would move back into a token if not pinned
    assert client.get("/where").json["storage"] == "server"
