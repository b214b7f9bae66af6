"""The flask hybrid-session commands."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from flask_hybridsession import session as session_module
from flask_hybridsession.cli import cli
from flask_hybridsession.cli import redis_location
from flask_hybridsession.session import new_sid
from flask_hybridsession.stores import lifecycle

from .conftest import AppFactory
from .conftest import RedisServer
from .conftest import free_port


def _login(app: object, user: str, agent: str) -> FlaskClient:
    client: FlaskClient = app.test_client()  # type: ignore[attr-defined]
    client.post(f"/login/{user}", headers={"User-Agent": agent})
    return client


def _run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["hybrid-session", *args])


def _refused(result: Result) -> str:
    """The one-line reason of a command that refused its input."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_sessions_revoke_and_revoke_user(make_login_app: AppFactory, mode: str) -> None:
    app = make_login_app(mode)
    first = _login(app, "alice", "Firefox")
    second = _login(app, "alice", "Chrome")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["hybrid-session", "sessions", "alice"])
    assert result.exit_code == 0
    header, *lines = result.stdout.strip().splitlines()
    assert header.split()[0] == "SID"
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
    assert "Every credential of alice from an earlier login is refused" in result.stdout
    assert "(1 listed session ended)" in result.stdout
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

    # A sid ended behind the index's back (its proof gone, its tombstone set,
    # by another tool) leaves a stale entry that purge drops.
    sid = jwt_client.get("/get/x").json["sid"]
    rdb.delete(f"hs:{{s:{sid}}}:u")
    rdb.set(f"hs:{{s:{sid}}}:r", "1", px=60_000)
    result = json.loads(runner.invoke(args=["hybrid-session", "purge", "--json"]).stdout)
    assert result == {"dropped": 1}
    stats = json.loads(runner.invoke(args=["hybrid-session", "stats", "--json"]).stdout)
    assert stats["jwt_sessions"] == 1
    assert stats["revoked"] >= 1
    text = runner.invoke(args=["hybrid-session", "stats"]).stdout
    assert "server sessions: 2" in text


# A sid is base64url: one in 64 begins with "-", which click read as an option
# ("No such option: -s"), so `revoke` printed nothing: the cause of the flaky
# test_sessions_revoke_and_revoke_user.

DASHED_UNKNOWN = "-" + "A" * 21


@pytest.mark.parametrize(
    "args",
    [
        ["revoke", DASHED_UNKNOWN],
        ["revoke", DASHED_UNKNOWN, "--json"],
        ["revoke", "--json", DASHED_UNKNOWN],
        ["revoke", "--", DASHED_UNKNOWN],
    ],
)
def test_revoke_takes_a_sid_that_begins_with_a_dash(
    make_login_app: AppFactory, args: list[str]
) -> None:
    result = _run(make_login_app("jwt"), *args)
    assert result.exit_code == 0, result.output
    if "--json" in args:
        assert json.loads(result.stdout) == {"sid": DASHED_UNKNOWN, "revoked": False}
    else:
        assert result.stdout == f"{DASHED_UNKNOWN} is unknown or already ended.\n"


def test_revoke_ends_a_live_session_whose_sid_begins_with_a_dash(
    make_login_app: AppFactory, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make every sid drawn one of the 1 in 64 (a new session's, a rotation's).
    dashed = lambda: "-" + new_sid()[1:]  # noqa: E731
    monkeypatch.setattr(session_module, "new_sid", dashed)
    monkeypatch.setattr(lifecycle, "new_sid", dashed)
    app = make_login_app(mode)
    client = _login(app, "alice", "Firefox")
    sid = client.get("/get/x").json["sid"]
    assert sid.startswith("-")
    _, line = _run(app, "sessions", "alice").stdout.splitlines()
    assert line.split()[0] == sid
    result = _run(app, "revoke", sid, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"sid": sid, "revoked": True}
    assert client.get("/me").status_code == 401


@pytest.mark.parametrize(
    "sid",
    [
        "not-a-sid",
        "",
        "   ",
        "A" * 23,
        "A" * 21 + "B",  # 22 characters, but no 16-byte id encodes to it
        "abc def ghi jkl mno pq",
        "\x1b[31m",
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_revoke_refuses_a_malformed_sid(
    make_login_app: AppFactory, sid: str, as_json: bool
) -> None:
    result = _run(make_login_app("jwt"), "revoke", *(["--json"] if as_json else []), "--", sid)
    reason = _refused(result)
    assert "SID is" in reason
    if sid.strip():
        assert sid not in reason  # input is never echoed: it may be a credential


@pytest.mark.parametrize("mode", ["jwt", "server"])
def test_revoke_refuses_a_credential_and_never_shows_it(
    make_login_app: AppFactory, mode: str
) -> None:
    app = make_login_app(mode)
    client = _login(app, "alice", "Firefox")
    cookie = client.get_cookie("session")
    assert cookie is not None
    reason = _refused(_run(app, "revoke", cookie.value))
    assert "credential" in reason and cookie.value not in reason
    assert client.get("/me").text == "alice"


def test_a_well_formed_unknown_sid_is_no_error(make_login_app: AppFactory) -> None:
    sid = new_sid()
    result = _run(make_login_app("server"), "revoke", sid)
    assert result.exit_code == 0
    assert result.stdout == f"{sid} is unknown or already ended.\n"


@pytest.mark.parametrize("command", ["revoke-user", "sessions"])
@pytest.mark.parametrize("user_id", ["", " ", "\t\n"])
def test_an_empty_user_id_is_refused(
    make_login_app: AppFactory, command: str, user_id: str
) -> None:
    app = make_login_app("server")
    client = _login(app, "alice", "Firefox")
    assert "USER_ID is empty" in _refused(_run(app, command, user_id))
    assert "USER_ID is empty" in _refused(_run(app, command, "--json", "--", user_id))
    assert client.get("/me").text == "alice"


def test_every_command_takes_json(make_login_app: AppFactory) -> None:
    app = make_login_app("server")
    for name in cli.commands:
        result = _run(app, name, "--help")
        assert result.exit_code == 0 and "--json" in result.stdout, name


def test_sessions_prints_a_header_row(make_login_app: AppFactory) -> None:
    app = make_login_app("auto")
    assert _run(app, "sessions", "alice").stdout == "No live sessions for alice.\n"
    assert json.loads(_run(app, "sessions", "alice", "--json").stdout) == []

    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    client.post("/login/alice", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    _login(app, "alice", "okhttp/4.12.0")
    header, *lines = _run(app, "sessions", "alice").stdout.splitlines()
    columns = [("SID", 22), ("CREATED", 25), ("LAST SEEN", 25), ("MODE", 4), ("USER AGENT", 31)]
    assert header == "  ".join(name.ljust(width) for name, width in columns) + "  IP"
    assert len(lines) == 2
    for line in lines:
        # Each column starts where its header does.
        assert line[24:26] == "20" and line[51:53] == "20"
        assert line[78:82] == "jwt "
        assert line[84:].startswith(("Mozilla/5.0 (X11; Linux x86_64)  203.0.113.7", "okhttp"))


def test_sessions_escapes_control_characters_of_a_user_agent(make_login_app: AppFactory) -> None:
    app = make_login_app("server")
    _login(app, "alice", "evil\x1b[2J\x07")
    text = _run(app, "sessions", "alice").stdout
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b[2J\\x07" in text
    [row] = json.loads(_run(app, "sessions", "alice", "--json").stdout)
    assert row["user_agent"] == "evil\x1b[2J\x07"


def test_stats_says_where_its_figures_come_from(
    make_login_app: AppFactory, rdb: redis.Redis, redis_server: RedisServer
) -> None:
    rdb.acl_setuser(
        "hs-cli-test", enabled=True, passwords=["+s3cret-pass"], keys=["*"], commands=["+@all"]
    )
    try:
        url = f"redis://hs-cli-test:s3cret-pass@127.0.0.1:{redis_server.port}/3"
        app = make_login_app(
            "server", HYBRID_SESSION_REDIS_URL=url, HYBRID_SESSION_KEY_PREFIX="shop:"
        )
        _login(app, "alice", "A")
        text = _run(app, "stats").stdout
        figures = json.loads(_run(app, "stats", "--json").stdout)
    finally:
        rdb.acl_deluser("hs-cli-test")
    where = f"redis://127.0.0.1:{redis_server.port}/3"
    assert "s3cret" not in text + json.dumps(figures)
    assert "hs-cli-test" not in text + json.dumps(figures)
    assert text.splitlines()[:3] == [f"source: {where}", "key prefix: shop:", "redis: ok"]
    assert text.splitlines()[3].startswith("latency ms: ")
    assert "configured mode (this process): server" in text
    assert "\nmode:" not in text
    assert "server sessions: 1" in text and "jwt sessions: 0" in text
    assert figures == {
        "source": where,
        "key_prefix": "shop:",
        "redis": "ok",
        "latency_ms": figures["latency_ms"],
        "error": None,
        "configured_mode": "server",
        "server_sessions": 1,
        "jwt_sessions": 0,
        "indexed_users": 1,
        "revoked": 0,
        "unacknowledged_revocations": 0,
        "view_subscribers": 0,  # a server-mode app keeps no revocation view
    }


def test_stats_of_a_jwt_process_counts_what_redis_holds(make_login_app: AppFactory) -> None:
    # Sessions written by a server-mode app, counted by a jwt-mode process:
    # the counts go by where the sessions live, whatever the process's mode.
    _login(make_login_app("server"), "alice", "A")
    figures = json.loads(_run(make_login_app("jwt"), "stats", "--json").stdout)
    assert figures["configured_mode"] == "jwt"
    assert (figures["server_sessions"], figures["jwt_sessions"]) == (1, 0)


def test_without_revocation_commands_that_need_redis_say_so(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_REVOCATION=False)
    for args in (["revoke", new_sid()], ["revoke-user", "alice"], ["sessions", "alice"], ["purge"]):
        assert "HYBRID_SESSION_REVOCATION is False" in _refused(_run(app, *args)), args
    result = _run(app, "stats", "--json")
    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    assert (figures["redis"], figures["source"], figures["configured_mode"]) == (
        "not used",
        None,
        "jwt",
    )
    assert "source: -" in _run(app, "stats").stdout


def test_redis_down_is_one_line_and_status_1(make_login_app: AppFactory) -> None:
    app = make_login_app("server", HYBRID_SESSION_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    for args in (["revoke", new_sid()], ["revoke-user", "alice"], ["sessions", "alice"], ["purge"]):
        assert "Redis is unavailable" in _refused(_run(app, *args)), args
    result = _run(app, "stats")
    assert result.exit_code == 0
    assert "redis: unavailable" in result.stdout and "error: ConnectionError" in result.stdout
    assert "server sessions" not in result.stdout


def test_the_source_never_shows_a_password() -> None:
    from redis.sentinel import Sentinel

    for url, shown in {
        "redis://user:pw-1@db.example:6390/3": "redis://db.example:6390/3",
        "rediss://:pw-1@db.example:6380/0": "rediss://db.example:6380/0",
        "unix://user:pw-1@/run/redis.sock?db=2": "unix:///run/redis.sock?db=2",
    }.items():
        assert redis_location(redis.Redis.from_url(url)) == shown
    sentinel = Sentinel([("s1", 26379), ("s2", 26380)], sentinel_kwargs={"password": "pw-1"})
    master = sentinel.master_for("shop", db=4, password="pw-1")
    assert redis_location(master) == "redis+sentinel://s1:26379,s2:26380/shop/4"
