"""flask hybrid-session migrate-from-flask-session, on sessions Flask-Session itself wrote.

Flask-Session 0.8's Redis backend writes real sessions into a real Redis; the
command moves them; the old cookies then open the migrated sessions through
accept_flask_session_cookies.
"""

from __future__ import annotations

import json
import pickle
import re
import typing as t

import flask_login
import pytest
import redis
from flask import Flask
from flask import session
from flask_session import Session

from flask_hybridsession.migrate import accept_flask_session_cookies
from flask_hybridsession.migrate import bridge_key
from flask_hybridsession.migrate import decode
from flask_hybridsession.migrate import looks_like_pickle
from flask_hybridsession.migrate_reader import Refused
from flask_hybridsession.migrate_reader import Skipped
from flask_hybridsession.migrate_reader import read_session
from flask_hybridsession.migrate_reader import scan_keys

from .conftest import SECRET
from .conftest import AppFactory
from .conftest import RedisServer
from .conftest import User


def flask_session_app(rdb: redis.Redis, **config: t.Any) -> Flask:
    """The app as it ran before: Flask-Session on Redis, Flask-Login."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        TESTING=True,
        SESSION_TYPE="redis",
        SESSION_REDIS=rdb,
        **config,
    )
    Session(app)
    manager = flask_login.LoginManager(app)
    manager.user_loader(lambda user_id: User(user_id))

    @app.post("/set/<key>/<value>")
    def set_(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.post("/login/<user_id>")
    def login(user_id: str) -> str:
        flask_login.login_user(User(user_id))
        return "ok"

    return app


def old_session(app: Flask, *steps: str) -> str:
    """Drive Flask-Session through ``steps``; return its cookie value (the sid)."""
    client = app.test_client()
    for step in steps:
        assert client.post(step).status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def new_app(make_login_app: AppFactory, mode: str = "server", **config: t.Any) -> Flask:
    app = make_login_app(mode, **config)
    accept_flask_session_cookies(app)
    return app


def run(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(
        args=["hybrid-session", "migrate-from-flask-session", *args]
    )


@pytest.mark.parametrize("mode", ["server", "auto", "jwt"])
def test_old_cookies_open_the_migrated_sessions(
    rdb: redis.Redis, make_login_app: AppFactory, mode: str
) -> None:
    before = flask_session_app(rdb)
    guest = old_session(before, "/set/cart/apple", "/set/color/blue")
    alice = old_session(before, "/set/cart/pear", "/login/alice")

    app = new_app(make_login_app, mode)
    result = run(app)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "Migrated 2, skipped 0, refused 0."

    client = app.test_client()
    client.set_cookie("session", guest)
    seen = client.get("/get/cart")
    assert seen.json["value"] == "'apple'" and not seen.json["new"]
    # The response replaced the old cookie: the next request needs no bridge,
    # which now lives only a minute's grace for parallel requests.
    replaced = client.get_cookie("session")
    assert replaced is not None and replaced.value != guest
    assert 0 < rdb.ttl(bridge_key("hs:", guest)) <= 60
    assert rdb.ttl(bridge_key("hs:", alice)) > 60
    assert client.get("/get/color").json["value"] == "'blue'"

    logged_in = app.test_client()
    logged_in.set_cookie("session", alice)
    assert logged_in.get("/me").text == "alice"
    assert logged_in.get("/get/cart").json["value"] == "'pear'"


def test_migrated_login_is_indexed_and_revocable(
    rdb: redis.Redis, make_login_app: AppFactory
) -> None:
    alice = old_session(flask_session_app(rdb), "/login/alice")
    app = new_app(make_login_app)
    assert run(app).exit_code == 0
    hybrid = app.extensions["hybrid_session"]
    with app.app_context():
        [info] = hybrid.sessions_for("alice")
        assert info.mode == "server"
        assert hybrid.revoke_user("alice") == 1
    client = app.test_client()
    client.set_cookie("session", alice)
    assert client.get("/me").status_code == 401


def test_redis_holds_no_old_sid_and_no_readable_value(
    rdb: redis.Redis, make_login_app: AppFactory
) -> None:
    sid = old_session(flask_session_app(rdb), "/set/secret/swordfish")
    app = new_app(make_login_app)
    assert run(app, "--delete-old").exit_code == 0
    assert not rdb.exists(f"session:{sid}")
    assert rdb.exists(bridge_key("hs:", sid))
    for key in rdb.scan_iter():
        assert sid.encode() not in key
        if rdb.type(key) == b"string":
            assert b"swordfish" not in rdb.get(key)  # type: ignore[operator]
        elif rdb.type(key) == b"hash":
            assert not any(b"swordfish" in v for v in rdb.hvals(key))


def test_json_format_and_signed_cookies(rdb: redis.Redis, make_login_app: AppFactory) -> None:
    with pytest.warns(DeprecationWarning, match="use_signer"):
        before = flask_session_app(
            rdb, SESSION_SERIALIZATION_FORMAT="json", SESSION_USE_SIGNER=True
        )
    signed = old_session(before, "/set/k/v")
    assert "." in signed
    app = new_app(make_login_app)
    assert run(app).exit_code == 0
    client = app.test_client()
    client.set_cookie("session", signed)
    assert client.get("/get/k").json["value"] == "'v'"


def test_dry_run_writes_nothing_and_a_rerun_skips(
    rdb: redis.Redis, make_login_app: AppFactory
) -> None:
    old_session(flask_session_app(rdb), "/set/k/v")
    app = new_app(make_login_app)
    keys_before = set(rdb.scan_iter())
    dry = run(app, "--dry-run")
    assert dry.exit_code == 0
    assert "Dry run: would migrate 1, skip 0, refuse 0; nothing was written." in dry.stdout
    assert set(rdb.scan_iter()) == keys_before
    assert run(app).exit_code == 0
    again = run(app)
    assert "Migrated 0, skipped 1 (1 already migrated), refused 0." in again.stdout


def test_pickle_is_refused_and_never_loaded(rdb: redis.Redis, make_login_app: AppFactory) -> None:
    old_session(flask_session_app(rdb), "/set/k/v")
    sid = "P" * 43
    rdb.set(f"session:{sid}", pickle.dumps({"k": "v"}), ex=600)
    rdb.set(f"session:{'G' * 43}", b"\xc1 not a session", ex=600)
    rdb.set(f"session:{'E' * 43}", b"\x81\xaa_permanent\xc3", ex=600)  # {"_permanent": True}
    app = new_app(make_login_app)
    result = run(app, "--batch", "2")
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == (
        "Migrated 1, skipped 1 (1 empty), refused 2 (1 a pickle (Flask-Session before 0.7),"
        " 1 neither msgpack nor JSON)."
    )
    assert "never unpickled" in result.stderr
    # Refusals name sessions by a hash: the old sid is a credential.
    assert sid not in result.output
    client = app.test_client()
    client.set_cookie("session", sid)
    assert client.get("/get/k").json["new"] is True


def test_json_summary(rdb: redis.Redis, make_login_app: AppFactory) -> None:
    old_session(flask_session_app(rdb), "/set/k/v")
    old_session(flask_session_app(rdb), "/set/k/w", "/login/alice")
    sid = "P" * 43
    rdb.set(f"session:{sid}", pickle.dumps({"k": "v"}), ex=600)
    rdb.set(f"session:{'E' * 43}", b"\x81\xaa_permanent\xc3", ex=600)  # {"_permanent": True}
    app = new_app(make_login_app)
    counts = {
        "migrated": 2,
        "skipped": 1,
        "skipped_by_reason": {"empty": 1},
        "refused": 1,
        "refused_by_reason": {"a pickle (Flask-Session before 0.7)": 1},
    }

    dry = run(app, "--dry-run", "--json")
    assert dry.exit_code == 1
    summary = json.loads(dry.stdout)
    assert summary == {**counts, "dry_run": True, "refusals": summary["refusals"]}
    [refusal] = summary["refusals"]
    assert "never unpickled" in refusal and sid not in dry.output

    result = run(app, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {**counts, "dry_run": False, "refusals": [refusal]}
    again = json.loads(run(app, "--json").stdout)
    assert (again["migrated"], again["skipped_by_reason"]) == (
        0,
        {"already migrated": 2, "empty": 1},
    )


def test_an_unmigrated_old_cookie_opens_a_fresh_session(make_login_app: AppFactory) -> None:
    app = new_app(make_login_app)
    client = app.test_client()
    client.set_cookie("session", "x" * 43)
    seen = client.get("/get/k").json
    assert seen["value"] == "None" and seen["new"] is True


def test_needs_redis(make_login_app: AppFactory) -> None:
    app = make_login_app("jwt", HYBRID_SESSION_REVOCATION=False)
    result = run(app)
    assert result.exit_code == 1
    assert "HYBRID_SESSION_REVOCATION" in result.stderr
    from flask_hybridsession import ConfigurationError

    with pytest.raises(ConfigurationError, match="no Redis"):
        accept_flask_session_cookies(app)


def test_decode_matches_flask_sessions_formats() -> None:
    import msgspec

    value = {"a": [1, 2], "b": None, "_permanent": True}
    assert decode(msgspec.msgpack.encode(value)) == value
    assert decode(msgspec.json.encode(value)) == value
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert looks_like_pickle(pickle.dumps(value, protocol=protocol)), protocol
    assert not looks_like_pickle(msgspec.msgpack.encode(value))


@pytest.mark.parametrize(
    ("sid", "raw", "outcome"),
    [
        ("s" * 43, None, Skipped("expired")),
        ("s" * 43, redis.ResponseError("WRONGTYPE"), Refused("not a string value")),
        ("short", b"\x81\xa1k\xa1v", Refused("not a Flask-Session id")),
        ("s" * 43 + ".sig", b"\x81\xa1k\xa1v", Refused("not a Flask-Session id")),
        ("s" * 43, b"\xc1", Refused("neither msgpack nor JSON")),
        ("s" * 43, b"[1]", Refused("a list, not a session dict")),
        ("s" * 43, b'{"_permanent": true}', Skipped("empty")),
    ],
    ids=["expired", "no string", "short sid", "signed sid", "garbage", "list", "empty"],
)
def test_read_session_says_why_it_reads_nothing(sid: str, raw: object, outcome: Exception) -> None:
    with pytest.raises(type(outcome), match=f"^{re.escape(str(outcome))}$"):
        read_session(sid, raw)


def test_read_session_reads_a_session() -> None:
    assert read_session("s" * 43, b'{"k": "v", "_permanent": true}') == {
        "k": "v",
        "_permanent": True,
    }


def test_a_prefix_is_matched_literally(rdb: redis.Redis) -> None:
    rdb.set("se[s]*:" + "a" * 43, b"{}")
    rdb.set("ses*:" + "b" * 43, b"{}")
    rdb.set("se[s]x:" + "c" * 43, b"{}")
    assert scan_keys(rdb, "se[s]*:", 2) == [b"se[s]*:" + b"a" * 43]


def test_bridge_answers_503_while_redis_is_down(make_login_app: AppFactory) -> None:
    from .conftest import free_port

    app = new_app(make_login_app, HYBRID_SESSION_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    client.set_cookie("session", "x" * 43)
    response = client.get("/get/k")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Set-Cookie" not in response.headers


def test_sessions_from_another_redis(
    rdb: redis.Redis, unix_redis_server: RedisServer, make_login_app: AppFactory
) -> None:
    source = unix_redis_server.client()
    source.flushall()
    try:
        sid = old_session(flask_session_app(source), "/set/k/v")
        app = new_app(make_login_app)
        assert run(app).stdout.strip().endswith("Migrated 0, skipped 0, refused 0.")
        result = run(app, "--from-url", unix_redis_server.url)
        assert result.stdout.strip().endswith("Migrated 1, skipped 0, refused 0.")
        client = app.test_client()
        client.set_cookie("session", sid)
        assert client.get("/get/k").json["value"] == "'v'"
    finally:
        source.flushall()
        source.close()


def test_the_bridge_keeps_no_app_alive_outside_the_app(make_login_app: AppFactory) -> None:
    import gc
    import weakref

    app = new_app(make_login_app)
    ref = weakref.ref(app)
    del app
    gc.collect()
    assert ref() is None
