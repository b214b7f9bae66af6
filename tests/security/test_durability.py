"""HS-49..HS-51: revocation holds whatever Redis loses (SPEC "Added 2026-12-04").

Every test here makes a real redis-server lose data for real: ``FLUSHALL``, a
restart without persistence, or eviction under each ``maxmemory-policy``
(``maxmemory`` set by the test so low that Redis evicts every key the policy
allows at the next write). After the loss, a credential that was revoked before
it must be refused, in every mode, by cookie; nothing of anyone else's shows.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import logging
import typing as t

import pytest
import redis
from flask import Flask
from werkzeug.test import TestResponse

from flask_hybridsession import ConfigurationError
from flask_hybridsession.testing import settle_views

from ..conftest import SECRET
from ..conftest import RedisServer
from ..conftest import build_login_app
from ..conftest import running

MODES: t.Final = ["jwt", "server", "auto"]
POLICIES: t.Final = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
]
LOSSES: t.Final = ["flushall", "restart", *(f"evict:{policy}" for policy in POLICIES)]


@pytest.fixture()
def server() -> cabc.Iterator[RedisServer]:
    """A redis-server of this test's own, without persistence."""
    with running(RedisServer, prefix="hs-durable-") as started:
        yield started


def lose(server: RedisServer, loss: str) -> None:
    """Make ``server`` lose data for real."""
    client = server.client()
    if loss == "flushall":
        client.flushall()
    elif loss == "restart":
        server.stop()
        server.start()
    else:
        policy = loss.removeprefix("evict:")
        evicted = _evicted(client)
        client.config_set("maxmemory-policy", policy)
        # Redis evicts every key the policy allows (at this command or the
        # next write), then refuses the write: a 1-byte limit cannot be met.
        client.config_set("maxmemory", 1)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            client.set("probe", "x")
        client.config_set("maxmemory", 0)
        assert _evicted(client) > evicted
        if policy.startswith("volatile-"):
            assert all(client.pttl(key) < 0 for key in client.scan_iter())
        else:
            assert client.dbsize() == 0
    client.close()
    # What Redis says of it reaches each process's revocation view within
    # milliseconds; the assertions that follow are about after that.
    settle_views()


def _evicted(client: redis.Redis) -> int:
    return int(client.info("stats")["evicted_keys"])


def app_on(server: RedisServer, mode: str, **config: t.Any) -> Flask:
    return build_login_app(mode, HYBRID_SESSION_REDIS_URL=server.url, **config)


def cookie(client: t.Any, name: str = "session") -> str:
    found = client.get_cookie(name)
    assert found is not None, name
    return str(found.value)


def replay(app: Flask, value: str, path: str = "/me") -> TestResponse:
    client = app.test_client()
    client.set_cookie("session", value)
    return client.get(path)


def logged_in(app: Flask, user: str = "alice") -> tuple[t.Any, str]:
    client = app.test_client()
    client.post("/set/cart/pear")
    client.post(f"/login/{user}")
    assert client.get("/me").text == user
    return client, cookie(client)


# HS-49: a revoked credential stays refused after any loss.


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "action", ["logout", "revoke", "revoke_user", "cli-revoke", "cli-revoke-user"]
)
def test_hs49_a_revoked_login_stays_refused_after_redis_loses_data(
    server: RedisServer, mode: str, action: str, loss: str
) -> None:
    app = app_on(server, mode)
    client, credential = logged_in(app)
    sid = client.get("/get/cart").json["sid"]
    if action == "logout":
        client.post("/logout")
    elif action == "revoke":
        with app.test_request_context():
            assert app.extensions["hybrid_session"].revoke(sid) is True
    elif action == "revoke_user":
        client.post("/logout-all")
    else:
        # The CLI, as an operator runs it.
        command = ["revoke", sid] if action == "cli-revoke" else ["revoke-user", "alice"]
        result = app.test_cli_runner().invoke(args=["hybrid-session", *command])
        assert result.exit_code == 0, result.output
    assert replay(app, credential).status_code == 401
    lose(server, loss)
    assert replay(app, credential).status_code == 401
    # A process started after the loss refuses it too, and logins work again.
    fresh = app_on(server, mode)
    assert replay(fresh, credential).status_code == 401
    _, again = logged_in(fresh)
    assert replay(fresh, again).text == "alice"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_hs49_a_revoked_guest_token_stays_refused_after_redis_loses_data(
    server: RedisServer, mode: str, loss: str
) -> None:
    app = app_on(server, mode)
    client = app.test_client()
    client.post("/set/cart/pear")
    credential = cookie(client)
    sid = client.get("/get/cart").json["sid"]
    with app.test_request_context():
        # False: Redis never held this guest (its session is in its token);
        # the mark is written all the same.
        app.extensions["hybrid_session"].revoke(sid)
    assert replay(app, credential, "/get/cart").json["new"] is True
    lose(server, loss)
    for process in (app, app_on(server, mode)):
        body = replay(process, credential, "/get/cart").json
        assert body["new"] is True and body["value"] == "None"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", MODES)
def test_hs49_a_remember_cookie_of_a_revoked_user_stays_refused(
    server: RedisServer, mode: str, loss: str
) -> None:
    app = app_on(server, mode)
    client = app.test_client()
    client.post("/login/alice?remember=1")
    remember, companion = cookie(client, "remember_token"), cookie(client, "remember_token_hs")
    client.post("/logout-all")
    lose(server, loss)
    for process in (app, app_on(server, mode)):
        browser = process.test_client()
        browser.set_cookie("remember_token", remember)
        browser.set_cookie("remember_token_hs", companion)
        assert browser.get("/me").status_code == 401


@pytest.mark.parametrize("mode", MODES)
def test_hs49_a_loss_signs_users_out_and_is_logged_once(
    server: RedisServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail closed: what Redis can no longer prove is refused, even if never revoked."""
    app = app_on(server, mode)
    _, alice = logged_in(app)
    _, bob = logged_in(app, "bob")
    lose(server, "flushall")
    with caplog.at_level(logging.ERROR, logger="flask_hybridsession"):
        assert replay(app, alice).status_code == 401
        assert replay(app, bob).status_code == 401
    lost = [r for r in caplog.records if "lost session data" in r.getMessage()]
    if mode != "server":
        # The process saw its records begin new epochs: one ERROR, however many.
        assert len(lost) == 1
    assert all(SECRET not in r.getMessage() for r in caplog.records)


# HS-50: the naming key is never replaced silently.


@pytest.mark.parametrize("mode", MODES)
def test_hs50_a_lost_naming_key_refuses_what_it_named(
    server: RedisServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_on(server, mode)
    _, credential = logged_in(app)
    client = server.client()
    assert client.delete("hs:naming-key") == 1
    # A new process makes a new key: it cannot name alice's old keys, so
    # what they prove is refused everywhere, never left alive unreachable.
    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        fresh = app_on(server, mode)
        assert replay(fresh, credential).status_code == 401
    # Not silently: the process that made the new key says why.
    made = [r for r in caplog.records if "lost the naming key" in r.getMessage()]
    assert len(made) == 1 and made[0].levelno == logging.WARNING
    assert replay(app, credential).status_code == 401
    with fresh.test_request_context():
        fresh.extensions["hybrid_session"].revoke_user("alice")
    _, again = logged_in(fresh)
    assert replay(app, again).text == "alice"


@pytest.mark.parametrize("mode", MODES)
def test_hs50_another_apps_naming_key_refuses_init_and_is_kept(
    server: RedisServer, mode: str
) -> None:
    first = app_on(server, mode)
    _, credential = logged_in(first)
    stored = server.client().get("hs:naming-key")
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_KEY_PREFIX"):
        app_on(server, mode, SECRET_KEY="another-app-0123456789abcdef0123456789ab")
    assert server.client().get("hs:naming-key") == stored
    assert replay(first, credential).text == "alice"
    # Its own prefix works beside it.
    other = app_on(
        server,
        mode,
        SECRET_KEY="another-app-0123456789abcdef0123456789ab",
        HYBRID_SESSION_KEY_PREFIX="other:",
    )
    _, theirs = logged_in(other)
    assert replay(other, theirs).text == "alice"


def test_hs50_revoke_user_ends_sessions_it_cannot_list(server: RedisServer) -> None:
    """The index is evicted, the sessions are not: revoke_user still ends them."""
    app = app_on(server, "server")
    _, credential = logged_in(app)
    client = server.client()
    [index] = client.keys("hs:{u:*}:i")
    client.delete(index)
    with app.test_request_context():
        app.extensions["hybrid_session"].revoke_user("alice")
    assert replay(app, credential).status_code == 401


# HS-51: tenants on one Redis.


@pytest.mark.parametrize("mode", MODES)
def test_hs51_a_credential_of_one_prefix_opens_nothing_under_another(
    server: RedisServer, mode: str
) -> None:
    shop = app_on(server, mode, HYBRID_SESSION_KEY_PREFIX="shop:")
    blog = app_on(server, mode, HYBRID_SESSION_KEY_PREFIX="blog:")
    _, credential = logged_in(shop)
    response = replay(blog, credential)
    assert response.status_code == 401
    assert "alice" not in response.text
    body = replay(blog, credential, "/get/cart").json
    assert body["new"] is True and body["value"] == "None"


# Eviction and loss are reported: a WARNING at start, and health().


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "allkeys-lru"])
def test_hs49_init_app_warns_where_redis_may_evict_and_health_says_so(
    server: RedisServer, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = server.client()
    client.config_set("maxmemory", 64 * 1024 * 1024)
    client.config_set("maxmemory-policy", policy)
    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        app = app_on(server, "jwt")
    warned = [r for r in caplog.records if "may evict" in r.getMessage()]
    evicting = policy != "noeviction"
    assert len(warned) == (1 if evicting else 0)
    with app.app_context():
        report = app.extensions["hybrid_session"].health()
    assert report["redis"] == "ok"
    assert report["evicting"] is evicting
    assert report["maxmemory_policy"] == policy
    assert report["aof_enabled"] is False
    assert report["rdb_save_points"] == ""  # the fixture's --save ""
    server.client().config_set("save", "3600 1")
    with app.app_context():
        assert app.extensions["hybrid_session"].health()["rdb_save_points"] == "3600 1"
    server.client().config_set("save", "")
    assert report["epoch_losses"] == 0
    lose(server, "flushall")
    _, credential = logged_in(app)
    with app.app_context():
        assert app.extensions["hybrid_session"].health()["epoch_losses"] >= 1
    assert replay(app, credential).text == "alice"


# HS-53: a reply belongs to its request.

#: A script whose reply has the shape of a check's "valid, no copy", after 50 ms.
SLOW_VALID_REPLY: t.Final = """
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 50000
return {ARGV[1], 0, 0}
"""


@pytest.mark.parametrize("mode", MODES)
def test_hs53_a_stale_reply_of_the_right_shape_is_never_a_decision(
    server: RedisServer, mode: str
) -> None:
    app = app_on(server, mode)
    client, credential = logged_in(app)
    client.post("/logout")
    backend = app.session_interface.engine.backend  # type: ignore[attr-defined]
    pool = backend.client.connection_pool
    # A pooled connection left with an unread reply that says "valid, not
    # revoked" (status 0, no copy) for some other call.
    try:
        connection = pool.get_connection()
    except TypeError:  # redis-py before 5.3 needs a command name
        connection = pool.get_connection("EVALSHA")
    # Slow (50 ms), so that redis-py's own check for unread data at checkout
    # finds none yet: the reply arrives while the next request waits for its own.
    connection.send_command("EVAL", SLOW_VALID_REPLY, 0, "1")
    pool.release(connection)
    response = replay(app, credential)
    assert response.status_code == 503
    assert "alice" not in response.text
    # The connections were dropped: the next request reads its own reply.
    assert replay(app, credential).status_code == 401


# HS-54: an older token of a session that moved into Redis (auto).


def test_hs54_an_older_token_cannot_open_or_take_a_moved_session(server: RedisServer) -> None:
    app = app_on(server, "auto", HYBRID_SESSION_MAX_COOKIE_BYTES=1200)
    holder = app.test_client()
    holder.post("/set/cart/pear")
    older = cookie(holder)
    holder.post("/set/note/" + "n" * 40)
    moving = cookie(holder)
    holder.post("/set/big/" + "b" * 1500)  # past the budget: it moves into Redis
    moved = cookie(holder)
    assert moved.startswith("v1.") and not moving.startswith("v1.")
    intruder = app.test_client()
    intruder.set_cookie("session", older)
    body = intruder.get("/get/big").json
    assert body["new"] is True and body["value"] == "None"
    intruder.post("/set/cart/stolen")
    assert cookie(intruder) != moved
    # The token whose write moved it resolves to it (SPEC), as the same server token.
    same = app.test_client()
    same.set_cookie("session", moving)
    assert same.get("/get/cart").json["value"] == "'pear'"
    # The holder of the server token still has the session, unchanged.
    assert holder.get("/get/cart").json["value"] == "'pear'"
    assert holder.get("/get/big").json["value"] == "'" + "b" * 1500 + "'"
    assert cookie(holder) == moved


# HS-52: a flood of guests writes nothing durable.


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_hs52_guests_created_and_cleared_leave_no_key(server: RedisServer, mode: str) -> None:
    app = app_on(server, mode)
    client = server.client()
    before = client.dbsize()
    for _ in range(200):
        guest = app.test_client()
        guest.post("/set/cart/pear")
        guest.post("/clear")
    assert client.dbsize() == before
    # Logged-in sessions do leave their proofs, and end them at logout.
    user, _ = logged_in(app)
    assert client.dbsize() > before
    user.post("/logout")
    assert not client.keys("hs:{s:*}:u")


# HS-53: a revocation waits for a replica by default.


def _waits(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_wait", {})
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


@pytest.mark.parametrize("mode", MODES)
def test_hs53_a_revocation_waits_for_a_replica_and_survives_its_promotion(
    server: RedisServer, tmp_path: t.Any, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    import os
    import signal

    app = app_on(server, mode)
    master = server.client()
    # No replica: a logout waits for none.
    client, _ = logged_in(app)
    client.post("/logout")
    assert _waits(master) == 0
    replica = RedisServer(str(tmp_path))
    replica.start()
    try:
        replica.client().replicaof("127.0.0.1", server.port)
        for _ in range(200):
            slaves = master.info("replication").get("slave0", {})
            if isinstance(slaves, dict) and slaves.get("state") == "online":
                break
            replica.client().ping()
        fresh = app_on(server, mode)  # a process that has not asked yet
        client, credential = logged_in(fresh)
        assert client.post("/logout").status_code == 200
        assert _waits(master) >= 1
        # The replica is promoted: what the logout revoked stays revoked there.
        replica.client().replicaof("NO", "ONE")
        promoted = build_login_app(mode, HYBRID_SESSION_REDIS_URL=replica.url)
        assert replay(promoted, credential).status_code == 401
        # A replica that does not answer in time: the logout succeeds, and says so.
        replica.client().replicaof("127.0.0.1", server.port)
        for _ in range(200):
            slaves = master.info("replication").get("slave0", {})
            if isinstance(slaves, dict) and slaves.get("state") == "online":
                break
            replica.client().ping()
        client, _ = logged_in(fresh, "bob")
        with fresh.app_context():
            before = fresh.extensions["hybrid_session"].health()["unacknowledged_revocations"]
        assert replica.process is not None
        os.kill(replica.process.pid, signal.SIGSTOP)
        try:
            with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
                assert client.post("/logout").status_code == 200
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        assert any("reached 0 of 1 replicas" in r.getMessage() for r in caplog.records)
        with fresh.app_context():
            after = fresh.extensions["hybrid_session"].health()["unacknowledged_revocations"]
        assert after == before + 1
        # Counted in Redis too, for `stats` in any process (the CLI's included).
        result = fresh.test_cli_runner().invoke(args=["hybrid-session", "stats", "--json"])
        assert json.loads(result.stdout)["unacknowledged_revocations"] >= 1
    finally:
        replica.stop()


@pytest.mark.parametrize("mode", MODES)
def test_hs52_a_login_past_the_cap_ends_the_least_recently_seen_session(
    server: RedisServer, mode: str
) -> None:
    from ..conftest import with_clock

    app = app_on(server, mode, HYBRID_SESSION_MAX_SESSIONS_PER_USER=2)
    clock = with_clock(app)
    first, oldest = logged_in(app)
    clock.now += 120
    _, middle = logged_in(app)
    clock.now += 120
    assert first.get("/me").text == "alice"  # seen again: now the newest
    clock.now += 120
    _, newest = logged_in(app)
    assert replay(app, middle).status_code == 401
    for credential in (oldest, newest):
        assert replay(app, credential).text == "alice"
    with app.test_request_context():
        assert len(app.extensions["hybrid_session"].sessions_for("alice")) == 2


def test_hs52_ten_thousand_sessions_of_one_user_never_hold_redis_over_5_ms(
    server: RedisServer,
) -> None:
    from flask_hybridsession.session import new_sid

    app = app_on(server, "jwt", HYBRID_SESSION_MAX_SESSIONS_PER_USER=0)
    _, credential = logged_in(app)
    engine = app.session_interface.engine  # type: ignore[attr-defined]
    backend = engine.backend
    with app.test_request_context():
        ctx = engine.context(app.config, engine.secrets(app.config))
        tag = engine.user_tag(ctx, "alice")
        created = int(ctx.now)
        for _ in range(20):  # 10,000 more sessions of alice, 500 a trip
            ops = []
            for sid in (new_sid() for _ in range(500)):
                sealed = ctx.ring.seal(sid, b"index", ctx.serializer.dump_bytes({"c": created}))
                ops += [
                    backend.user_mark(sid, tag, 3_600_000),
                    backend.user_login(
                        tag,
                        sid,
                        sealed,
                        now_ms=ctx.now_ms,
                        deadline_ms=ctx.now_ms + 3_600_000,
                        old_sid="",
                        keep_ms=0,
                    ),
                ]
            backend.run(ops)
        client = server.client()
        # Every command, timed by Redis itself: what each one did is asserted
        # (no timing assertion, which a loaded machine could break); the
        # slowest is printed, and the closing figures come from it.
        client.config_set("slowlog-max-len", 200_000)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        hybrid = app.extensions["hybrid_session"]
        assert len(hybrid.sessions_for("alice")) == 10_001
        assert hybrid.revoke_user("alice") == 10_001
        log = client.slowlog_get(200_000)
        client.config_set("slowlog-log-slower-than", 10_000)
    commands = [entry["command"] for entry in log]
    # The commands on a user's keys (its index, or the index renamed away).
    index = [c for c in commands if len(c.split(b" ")) > 1 and b"{u:" in c.split(b" ")[1]]
    # The index is never read or deleted whole: HSCAN slices, then UNLINK.
    assert not [
        c for c in index if c.split(b" ")[0].upper() in (b"HGETALL", b"HKEYS", b"HVALS", b"DEL")
    ]
    scans = [c for c in index if c.startswith((b"HSCAN", b"hscan"))]
    assert scans and all(c.split(b" ")[-1] == b"300" for c in scans)
    assert any(c.upper().startswith(b"UNLINK") for c in index)
    slowest = max(log, key=lambda entry: entry["duration"])
    print(f"\nslowest command: {slowest['duration']} us, {slowest['command'][:60]!r}")
    assert replay(app, credential).status_code == 401
    assert not client.keys("hs:{u:*}:i*")


def test_hs52_a_flood_of_revocations_stops_at_maxmemory_under_noeviction(
    server: RedisServer,
) -> None:
    from flask_hybridsession import StoreUnavailable
    from flask_hybridsession.session import new_sid

    app = app_on(server, "jwt")
    client = server.client()
    used = int(client.info("memory")["used_memory"])
    limit = used + 256 * 1024
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", limit)
    refused = 0
    with app.test_request_context():
        hybrid = app.extensions["hybrid_session"]
        for _ in range(20_000):  # bounded: about 3 times what fits
            try:
                hybrid.revoke(new_sid())
            except StoreUnavailable:
                refused += 1
                if refused >= 10:
                    break
    assert refused >= 10
    # Stopped at the limit: every write was refused there, none got past it.
    assert int(client.info("memory")["used_memory"]) <= limit + 64 * 1024
    client.config_set("maxmemory", 0)


@pytest.mark.parametrize("mode", MODES)
def test_hs50_the_cli_never_claims_it_ended_nothing_for_a_user_it_cannot_list(
    server: RedisServer, mode: str
) -> None:
    app = app_on(server, mode)
    _, credential = logged_in(app)
    assert server.client().delete("hs:naming-key") == 1
    fresh = app_on(server, mode)
    result = fresh.test_cli_runner().invoke(args=["hybrid-session", "revoke-user", "alice"])
    assert result.exit_code == 0
    assert "Ended 0" not in result.stdout
    assert "Every credential of alice from an earlier login is refused" in result.stdout
    for process in (app, fresh):
        assert replay(process, credential).status_code == 401


def cluster_command(client: redis.Redis, *args: t.Any) -> t.Any:
    return client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


def test_hs53_on_a_cluster_a_revocation_waits_on_the_node_that_took_it(tmp_path: t.Any) -> None:
    """Each primary gets a replica; a logout's writes are followed, on each node
    that took them and on the same connection, by WAIT 1."""
    import os

    from ..topology import ClusterNode
    from ..topology import LocalCluster

    with running(LocalCluster, "hs-cluster-") as cluster:
        replicas = [ClusterNode(os.path.join(str(tmp_path), f"r{n}")) for n in range(3)]
        try:
            for replica, primary in zip(replicas, cluster.nodes, strict=True):
                replica.start()
                cluster_command(replica.client(), "MEET", "127.0.0.1", primary.port)
                node_id = cluster_command(primary.client(), "MYID").decode()
                for _ in range(500):  # the new node learns the primary's id
                    try:
                        cluster_command(replica.client(), "REPLICATE", node_id)
                        break
                    except redis.ResponseError:
                        replica.client().ping()
                for _ in range(2000):
                    state = primary.client().info("replication").get("slave0", {})
                    if isinstance(state, dict) and state.get("state") == "online":
                        break
                    primary.client().ping()
            app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=cluster.url)
            client, credential = logged_in(app)
            primaries = [node.client() for node in cluster.nodes]
            before = sum(_waits(node) for node in primaries)
            assert client.post("/logout").status_code == 200
            assert sum(_waits(node) for node in primaries) > before
            assert replay(app, credential).status_code == 401
            # (Whether the replicas answered in time is not asserted: Redis 7
            # counts a replica still in its first sync as connected.)
        finally:
            for replica in replicas:
                replica.stop()
