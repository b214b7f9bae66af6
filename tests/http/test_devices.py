"""The devices page: what ``sessions_for`` lists, and the browser and IP follow a session.

The user agent and the client address of the login request are what
``sessions_for`` shows. They must survive every move of the session between
its token and Redis (auto mode, both ways), every restart in another mode, and
a ``regenerate()``, in every mode.
"""

from __future__ import annotations

import itertools
import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import MODES
from ..conftest import AppFactory
from ..conftest import with_clock
from .support import add_storage_routes
from .support import credential_of
from .support import session_key

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
ADDRESS = "203.0.113.7"


def _logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    response = client.post("/login/alice", headers={"User-Agent": AGENT})
    assert response.status_code == 200
    return client


def _moved_to(app: Flask, client: FlaskClient) -> FlaskClient:
    """The same browser (cookie), now talking to ``app``; another address and agent."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    moved = app.test_client()
    # Later requests come from elsewhere: only the login's client is shown.
    moved.environ_base.update(REMOTE_ADDR="198.51.100.9", HTTP_USER_AGENT="curl/8.0")
    moved.set_cookie("session", cookie.value)
    return moved


def _device(client: FlaskClient) -> dict[str, t.Any]:
    response = client.get("/devices")
    assert response.status_code == 200, response.status_code
    [device] = t.cast(list[dict[str, t.Any]], response.json)
    return device


def _storage(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return "server" if cookie.value.startswith("v1.") else "jwt"


def _assert_shown(client: FlaskClient) -> None:
    device = _device(client)
    assert (device["ua"], device["ip"]) == (AGENT, ADDRESS)
    assert device["mode"] == _storage(client)


@pytest.mark.parametrize(("before", "after"), list(itertools.permutations(MODES, 2)))
def test_device_follows_a_restart_in_another_mode(
    make_login_app: AppFactory, before: str, after: str
) -> None:
    client = _logged_in(make_login_app(before))
    _assert_shown(client)
    sid = client.get("/get/x").json["sid"]

    moved = _moved_to(make_login_app(after), client)
    assert moved.get("/me").text == "alice"  # re-issued in the new mode
    _assert_shown(moved)
    moved.post("/set/k/v")  # a write: where the new mode keeps it
    _assert_shown(moved)
    assert moved.get("/get/x").json["sid"] == sid

    # And back again.
    back = _moved_to(make_login_app(before), moved)
    back.post("/set/k/w")
    _assert_shown(back)
    assert back.get("/get/x").json["sid"] == sid


def test_device_follows_auto_moves_both_ways(make_login_app: AppFactory) -> None:
    app = add_storage_routes(make_login_app("auto"))
    client = _logged_in(app)
    assert _storage(client) == "jwt"
    _assert_shown(client)
    for _ in range(2):
        client.post("/grow")
        assert _storage(client) == "server"
        _assert_shown(client)
        client.post("/shrink")
        assert _storage(client) == "jwt"
        _assert_shown(client)


def _index_fields(rdb: redis.Redis) -> set[bytes]:
    indexes = t.cast(list[bytes], rdb.keys("hs:{u:*}:i"))
    return {field for index in indexes for field in t.cast(list[bytes], rdb.hkeys(index))}


@pytest.mark.parametrize("mode", MODES)
def test_device_follows_regenerate(make_login_app: AppFactory, mode: str, rdb: redis.Redis) -> None:
    client = _logged_in(make_login_app(mode))
    before = client.get("/get/x").json["sid"]
    assert client.post("/reauth").status_code == 200
    sid = client.get("/get/x").json["sid"]
    assert sid != before
    _assert_shown(client)
    # The old sid's entry went whole: nothing of it is left behind.
    assert _index_fields(rdb) == {sid.encode(), f"{sid}:ls".encode(), f"{sid}:d".encode()}
    client.post("/logout")
    assert _index_fields(rdb) == set()


def test_redis_holds_no_readable_device(make_login_app: AppFactory, rdb: redis.Redis) -> None:
    _logged_in(make_login_app("server"))
    for key in rdb.scan_iter():
        values = [key]
        if rdb.type(key) == b"hash":
            values += [b for pair in rdb.hgetall(key).items() for b in pair]
        elif rdb.type(key) == b"string":
            values.append(t.cast(bytes, rdb.get(key)))
        for value in values:
            assert b"Firefox" not in value and ADDRESS.encode() not in value


def test_a_new_login_shows_the_new_client(make_login_app: AppFactory) -> None:
    app = make_login_app("auto")
    client = _logged_in(app)
    client.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    client.post("/login/alice", headers={"User-Agent": "Other/1.0"})
    device = _device(client)
    assert (device["ua"], device["ip"]) == ("Other/1.0", "192.0.2.1")


def test_devices_list_and_revoke_one(login_app: Flask) -> None:
    clients = []
    for agent in ("Firefox", "Chrome"):
        client = login_app.test_client()
        client.post("/login/alice", headers={"User-Agent": agent})
        clients.append(client)
    devices: list[dict[str, str]] = clients[0].get("/devices").json or []
    assert sorted(d["ua"] for d in devices) == ["Chrome", "Firefox"]
    assert all(d["ip"] == "127.0.0.1" for d in devices)
    listing = str(devices)
    assert all(credential_of(c) not in listing for c in clients)
    chrome = next(d["sid"] for d in devices if d["ua"] == "Chrome")
    hybrid = login_app.extensions["hybrid_session"]
    with login_app.app_context():
        assert hybrid.revoke(chrome) is True
        assert hybrid.revoke(chrome) is False
        assert hybrid.revoke("A" * 22) is False
        assert hybrid.revoke("not a sid") is False
    assert clients[1].get("/me").status_code == 401
    assert clients[0].get("/me").text == "alice"
    assert [d["ua"] for d in clients[0].get("/devices").json or []] == ["Firefox"]


def test_guest_server_reads_never_write_last_seen(
    make_login_app: AppFactory, rdb: redis.Redis
) -> None:
    app = make_login_app("server")
    clock = with_clock(app)
    guest, member = app.test_client(), app.test_client()
    guest.post("/set/k/v")
    member.post("/login/alice")
    clock.now += 120
    guest_sid = guest.get("/get/k").json["sid"]
    member_sid = member.get("/get/k").json["sid"]
    guest_seen = rdb.hget(session_key(guest_sid), "l")
    member_seen = rdb.hget(session_key(member_sid), "l")
    assert guest_seen is not None and member_seen is not None
    assert int(member_seen) >= int(clock.now * 1000) - 1
    assert int(guest_seen) < int(clock.now * 1000) - 60_000
