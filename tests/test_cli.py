"""The flask hybrid-session commands."""

from __future__ import annotations

import json

import redis
from flask.testing import FlaskClient

from .conftest import AppFactory


def _login(app: object, user: str, agent: str) -> FlaskClient:
    client: FlaskClient = app.test_client()  # type: ignore[attr-defined]
    client.post(f"/login/{user}", headers={"User-Agent": agent})
    return client


def test_sessions_revoke_and_revoke_user(make_login_app: AppFactory, mode: str) -> None:
    app = make_login_app(mode)
    first = _login(app, "alice", "Firefox")
    second = _login(app, "alice", "Chrome")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["hybrid-session", "sessions", "alice"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert {line.split()[0] for line in lines} == {
        c.get("/get/x").json["sid"] for c in (first, second)
    }
    cookie = first.get_cookie("session")
    assert cookie is not None and cookie.value not in result.stdout

    listing = json.loads(
        runner.invoke(args=["hybrid-session", "sessions", "alice", "--json"]).stdout
    )
    chrome = next(row["sid"] for row in listing if row["user_agent"] == "Chrome")
    result = runner.invoke(args=["hybrid-session", "revoke", chrome, "--json"])
    assert json.loads(result.stdout) == {"sid": chrome, "revoked": True}
    assert second.get("/me").status_code == 401
    assert first.get("/me").text == "alice"
    assert "already ended" in runner.invoke(args=["hybrid-session", "revoke", chrome]).stdout

    result = runner.invoke(args=["hybrid-session", "revoke-user", "alice"])
    assert "Ended 1 session of alice" in result.stdout
    assert first.get("/me").status_code == 401
    assert "No live sessions" in runner.invoke(args=["hybrid-session", "sessions", "alice"]).stdout


def test_purge_and_stats(make_login_app: AppFactory, rdb: redis.Redis) -> None:
    server_app, jwt_app = make_login_app("server"), make_login_app("jwt")
    _login(server_app, "alice", "A")
    jwt_client = _login(jwt_app, "alice", "B")
    _login(jwt_app, "bob", "C")
    runner = server_app.test_cli_runner()
    stats = json.loads(runner.invoke(args=["hybrid-session", "stats", "--json"]).stdout)
    assert stats["server_sessions"] == 1
    assert stats["indexed_users"] == 2
    assert stats["jwt_sessions"] == 2
    server_app.test_client().post("/set/guest/1")  # a guest's server session
    stats = json.loads(runner.invoke(args=["hybrid-session", "stats", "--json"]).stdout)
    assert stats["server_sessions"] == 2
    assert stats["jwt_sessions"] == 2

    # A sid ended behind the index's back (e.g. its mark written by another
    # tool) leaves a stale entry that purge drops.
    sid = jwt_client.get("/get/x").json["sid"]
    rdb.set(f"hs:{{s:{sid}}}:r", "1", px=60_000)
    result = json.loads(runner.invoke(args=["hybrid-session", "purge", "--json"]).stdout)
    assert result == {"dropped": 1}
    stats = json.loads(runner.invoke(args=["hybrid-session", "stats", "--json"]).stdout)
    assert stats["jwt_sessions"] == 1
    assert stats["revoked"] >= 1
    text = runner.invoke(args=["hybrid-session", "stats"]).stdout
    assert "server sessions: 2" in text
