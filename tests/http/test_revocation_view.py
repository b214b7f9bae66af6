"""The revocation view: a token this process has checked opens without a round trip,
and every revocation reaches it, from this process or another, or empties it.

Real Redis, real processes; counts are round trips on the wire and Redis's
own ``INFO commandstats``.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import os
import subprocess
import sys
import threading
import time
import typing as t

import pytest
import redis
from flask import Flask

from flask_hybridsession import admin
from flask_hybridsession.stores.view import RevocationView

from ..conftest import RedisServer
from ..conftest import TripCounter
from ..conftest import build_app
from ..conftest import build_login_app
from ..conftest import counting_client
from ..conftest import running
from ..forging import read_jwt
from .support import credential_of
from .support import replay

#: Upper bounds that keep every wait finite.
WAIT_SECONDS = 10.0


def view_of(app: Flask) -> RevocationView:
    view = app.session_interface.engine.revocation.view  # type: ignore[attr-defined]
    assert isinstance(view, RevocationView)
    return view


def wait_for(check: t.Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def holding(app: Flask, client: t.Any, path: str = "/me") -> None:
    """Read until the view holds the client's token (the view starts at the
    first check and answers once its subscription is confirmed)."""
    view = view_of(app)
    client.get(path)
    wait_for(lambda: view.live, "the view to go live")
    client.get(path)  # checked while live: kept
    hits = view.hits
    assert client.get(path).status_code == 200
    assert view.hits == hits + 1


class Meter:
    def __init__(self, server: RedisServer) -> None:
        self.counter = TripCounter()
        self.client = counting_client(server, self.counter)
        self.stats = server.client()

    def measure(self, call: t.Callable[[], t.Any]) -> tuple[int, dict[str, int]]:
        before_trips = self.counter.trips
        before = self._commands()
        call()
        after = self._commands()
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        delta.pop("info", None)
        return self.counter.trips - before_trips, delta

    def _commands(self) -> dict[str, int]:
        info = self.stats.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


@pytest.fixture()
def server() -> cabc.Iterator[RedisServer]:
    with running(functools.partial(RedisServer, persist=True), "hs-view-") as started:
        yield started


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_a_repeated_read_costs_no_round_trip(server: RedisServer, mode: str) -> None:
    meter = Meter(server)
    app = build_login_app(mode, HYBRID_SESSION_REDIS=meter.client)
    warm = app.test_client()
    warm.post("/login/bob")
    holding(app, warm)  # scripts loaded, the view live
    view = view_of(app)
    client = app.test_client()
    assert client.post("/login/alice").status_code == 200
    first_trips, _ = meter.measure(lambda: client.get("/me"))
    assert first_trips == 1  # the first check of a sid in this process, kept
    for _ in range(5):
        trips, commands = meter.measure(lambda: client.get("/me"))
        assert (trips, commands) == (0, {})
    assert view.report()["hit_rate"] is not None
    assert view.report()["size"] == 2


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_the_view_off_checks_every_token(server: RedisServer, mode: str) -> None:
    meter = Meter(server)
    app = build_login_app(
        mode, HYBRID_SESSION_REDIS=meter.client, HYBRID_SESSION_REVOCATION_VIEW=False
    )
    client = app.test_client()
    client.post("/login/alice")
    assert app.session_interface.engine.revocation.view is None  # type: ignore[attr-defined]
    for _ in range(3):
        assert meter.measure(lambda: client.get("/me"))[0] == 1
    with app.app_context():
        assert app.extensions["hybrid_session"].health()["revocation_view"] == {"enabled": False}


def test_server_mode_has_no_view(server: RedisServer) -> None:
    app = build_login_app("server", HYBRID_SESSION_REDIS_URL=server.url)
    assert app.session_interface.engine.revocation.view is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["jwt", "auto"])
@pytest.mark.parametrize("how", ["logout", "revoke", "revoke_user", "regenerate"])
def test_a_revocation_in_this_process_is_refused_at_once(
    server: RedisServer, mode: str, how: str
) -> None:
    """No wait for the message: the revoking process drops it before Redis is asked,
    in every app of the process on the same Redis and prefix."""
    app = build_login_app(mode, HYBRID_SESSION_REDIS_URL=server.url)
    other = build_login_app(mode, HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    credential = credential_of(client)
    holding(app, client)
    watcher = other.test_client()
    watcher.set_cookie("session", credential)
    holding(other, watcher)
    extension = app.extensions["hybrid_session"]
    if how == "logout":
        client.post("/logout")
    elif how == "revoke_user":
        with app.app_context():
            extension.revoke_user("alice")
    elif how == "regenerate":
        client.post("/reauth")
    else:
        with app.app_context():
            extension.revoke(read_jwt(credential)[1]["sid"])
    assert replay(app, credential).status_code == 401
    assert replay(other, credential).status_code == 401


_REVOKER = """
import sys
from tests.conftest import build_login_app
app = build_login_app(sys.argv[1], HYBRID_SESSION_REDIS_URL=sys.argv[2])
with app.app_context():
    app.extensions["hybrid_session"].revoke_user("alice")
"""


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_a_revocation_in_another_process_reaches_the_view(server: RedisServer, mode: str) -> None:
    app = build_login_app(mode, HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    subprocess.run(
        [sys.executable, "-c", _REVOKER, mode, server.url],
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        timeout=60,
    )
    # The message is on its way or here; once refused, refused for good.
    wait_for(lambda: client.get("/me").status_code == 401, "the revocation to arrive")
    assert all(client.get("/me").status_code == 401 for _ in range(20))


def test_a_push_drops_only_what_it_names(server: RedisServer) -> None:
    meter = Meter(server)
    app = build_login_app("jwt", HYBRID_SESSION_REDIS=meter.client)
    alice, bob = app.test_client(), app.test_client()
    alice.post("/login/alice")
    bob.post("/login/bob")
    holding(app, alice)
    holding(app, bob)
    view = view_of(app)
    sid = _sid_of(app, alice)
    server.client().publish("hs:view", f"s:{sid}")
    wait_for(lambda: len(view) == 1, "the message")
    assert meter.measure(lambda: alice.get("/me"))[0] == 1  # asked again: still good
    assert meter.measure(lambda: bob.get("/me"))[0] == 0
    assert alice.get("/me").status_code == 200


def test_an_unreadable_push_empties_the_view(server: RedisServer) -> None:
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    view = view_of(app)
    server.client().publish("hs:view", b"\xff garbage")
    wait_for(lambda: len(view) == 0, "the view to empty")


def _sid_of(app: Flask, client: t.Any) -> str:
    return str(read_jwt(credential_of(client))[1]["sid"])


@pytest.mark.parametrize("loss", ["kill-connection", "restart"])
def test_the_view_empties_on_any_doubt_and_comes_back(server: RedisServer, loss: str) -> None:
    meter = Meter(server)
    app = build_login_app("jwt", HYBRID_SESSION_REDIS=meter.client)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    view = view_of(app)
    if loss == "restart":
        server.stop()
        server.start()  # persisted: the session is still good
    else:
        server.client().client_kill_filter(_type="pubsub")
    wait_for(lambda: len(view) == 0, "the view to empty")
    # Every check goes to Redis meanwhile; then the view answers again.
    assert client.get("/me").status_code == 200
    wait_for(lambda: view.live, "the view to come back")
    client.get("/me")
    assert meter.measure(lambda: client.get("/me"))[0] == 0


def test_a_silent_server_empties_the_view(server: RedisServer) -> None:
    """A Redis that stops answering (frozen, not gone: no reset reaches the
    socket) is found out by the view's pings, and the view empties."""
    import signal

    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    view = view_of(app)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not view.live, "the view to notice the silence")
        assert len(view) == 0
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    wait_for(lambda: view.live, "the view to come back")


def test_a_check_that_races_a_push_is_not_kept(server: RedisServer) -> None:
    view = RevocationView(server.client(), "hs:view", 10)
    assert not view.holds("a" * 22, 1, None, None, 0.0)  # starts listening
    wait_for(lambda: view.live, "the view to go live")
    seen = view.seen()
    view.drop("s:" + "b" * 22)  # any message while the check ran
    view.keep(seen, "a" * 22, 1, None, None, 0.0)
    assert not view.holds("a" * 22, 1, None, None, 0.0)
    view.keep(view.seen(), "a" * 22, 1, None, None, 0.0)
    assert view.holds("a" * 22, 1, None, None, 0.0)
    # Other proofs than the ones checked open nothing from the view.
    assert not view.holds("a" * 22, 2, None, None, 0.0)
    assert not view.holds("a" * 22, 1, "f" * 32, 7, 0.0)
    view.close()


def test_the_view_is_bounded_and_forgets_by_user(server: RedisServer) -> None:
    view = RevocationView(server.client(), "hs:view", 3)
    view.holds("x" * 22, None, None, None, 0.0)
    wait_for(lambda: view.live, "the view to go live")
    sids = [c * 22 for c in "abcd"]
    for sid in sids:
        view.keep(view.seen(), sid, 1, "t1" if sid < "c" else "t2", 5, 0.0)
    assert len(view) == 3
    assert not view.holds(sids[0], 1, "t1", 5, 0.0)  # least recently used out
    view.drop("u:t1")
    assert not view.holds(sids[1], 1, "t1", 5, 0.0)
    assert view.holds(sids[2], 1, "t2", 5, 0.0)
    view.drop("r:3")  # a record's new epoch: everything
    assert len(view) == 0
    # An entry is asked again once it is a minute old.
    view.keep(view.seen(), sids[3], 1, None, None, 0.0)
    assert view.holds(sids[3], 1, None, None, 59.0)
    assert not view.holds(sids[3], 1, None, None, 61.0)
    view.close()


def test_a_forked_child_starts_with_an_empty_view(server: RedisServer) -> None:
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    view = view_of(app)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's teardown
        code = 1
        try:
            empty = len(view) == 0 and not view.live
            served = client.get("/me").status_code == 200
            wait_for(lambda: view.live, "the child's view")
            code = 0 if empty and served else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"\x00"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert len(view) == 1  # the parent's is untouched


def test_threads_never_see_a_revoked_token_after_the_revocation(server: RedisServer) -> None:
    """Eight threads read while the main thread revokes: once revoke_user has
    returned, no read of its token succeeds."""
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    tokens = []
    for n in range(8):
        client = app.test_client()
        client.post("/login/alice" if n % 2 else "/login/bob")
        tokens.append(credential_of(client))
    view = view_of(app)
    replay(app, tokens[0])
    wait_for(lambda: view.live, "the view to go live")
    revoked_at: list[float] = []
    late: list[int] = []
    stop = time.monotonic() + 5.0

    def read(credential: str, alice: bool) -> None:
        client = app.test_client()
        client.set_cookie("session", credential)
        for _ in range(400):
            if time.monotonic() > stop:
                return
            started = time.monotonic()
            status = client.get("/me").status_code
            if alice and status == 200 and revoked_at and started > revoked_at[0]:
                late.append(status)

    threads = [
        threading.Thread(target=read, args=(token, n % 2 == 1)) for n, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    with app.app_context():
        app.extensions["hybrid_session"].revoke_user("alice")
    revoked_at.append(time.monotonic())
    for thread in threads:
        thread.join(30)
    assert late == []
    assert replay(app, tokens[1]).status_code == 401
    assert replay(app, tokens[0]).status_code == 200


def test_health_and_stats_show_the_view(server: RedisServer) -> None:
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    with app.app_context():
        report = app.extensions["hybrid_session"].health()["revocation_view"]
    assert report["enabled"] is True
    assert report["live"] is True
    assert report["size"] == 1
    assert 0 < report["hit_rate"] <= 1
    # `flask hybrid-session stats` counts the views that listen, every process's.
    other = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    other_client = other.test_client()
    other_client.set_cookie("session", credential_of(client))
    holding(other, other_client)
    engine = app.session_interface.engine  # type: ignore[attr-defined]
    assert admin.stats(engine, app)["view_subscribers"] == 2


def test_a_guest_token_is_held_too(server: RedisServer) -> None:
    meter = Meter(server)
    app = build_app("jwt", HYBRID_SESSION_REDIS=meter.client)
    client = app.test_client()
    client.post("/set/k/v")
    view = view_of(app)
    client.get("/get/k")
    wait_for(lambda: view.live, "the view to go live")
    client.get("/get/k")
    assert meter.measure(lambda: client.get("/get/k"))[0] == 0
    with app.app_context():
        app.extensions["hybrid_session"].revoke(_sid_of(app, client))
    assert client.get("/get/k").json["new"] is True


def test_redis_py_reconnects_are_doubts_too(server: RedisServer) -> None:
    """Whatever the client library does on a dropped connection (redis-py 8
    reconnects and subscribes again by itself), the view empties."""
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    view = view_of(app)
    killer = redis.Redis.from_url(server.url)
    for _ in range(3):
        killer.client_kill_filter(_type="pubsub")
        wait_for(lambda: len(view) == 0, "the view to empty")
        wait_for(lambda: view.live, "the view to come back")
        holding(app, client)


@pytest.mark.parametrize("mode", ["jwt", "auto"])
@pytest.mark.parametrize("loss", ["flushall", "restart", "evict:volatile-lru", "evict:allkeys-lru"])
def test_a_loss_refuses_what_the_view_held(mode: str, loss: str) -> None:
    """Fail closed with the view too: a flush or an eviction says so (client
    tracking), a restart drops the view's connection; either way the token the
    view held goes back to Redis, which can no longer prove it."""
    from ..security.test_durability import lose

    with running(RedisServer, "hs-view-loss-") as server:
        app = build_login_app(mode, HYBRID_SESSION_REDIS_URL=server.url)
        client = app.test_client()
        client.post("/login/alice")
        holding(app, client)
        credential = credential_of(client)
        lose(server, loss)  # and settle_views()
        assert replay(app, credential).status_code == 401


def test_the_revoking_process_never_keeps_what_it_revoked(server: RedisServer) -> None:
    """A check of this process that Redis ran just before the revocation, and
    that is kept once Redis has answered, is dropped again when the revoking
    call returns: it never waits for the message.

    ``quiet`` is a view of the same channel that hears no message (it has no
    listener): only this process's own drops reach it, so nothing but the
    revoking call can undo the kept check."""
    app = build_login_app("jwt", HYBRID_SESSION_REDIS_URL=server.url)
    client = app.test_client()
    client.post("/login/alice")
    holding(app, client)
    credential = credential_of(client)
    sid = read_jwt(credential)[1]["sid"]
    entry = view_of(app)._entries[sid]
    proofs = (sid, entry.epoch, entry.tag, entry.generation)
    backend = app.session_interface.engine.backend  # type: ignore[attr-defined]
    quiet = RevocationView(server.client(), backend.names.view, 10)
    quiet._pid, quiet._live = os.getpid(), True
    run = backend._run

    def interleaved(ops: t.Any) -> t.Any:
        # Another thread's check: it starts after the first drop, Redis runs
        # it before the call that ends the sid, and it is kept as soon as
        # that call's answer is back.
        if not any(op.topic == "s:" + sid for op in ops):
            return run(ops)
        seen = quiet.seen()
        replies = run(ops)
        quiet.keep(seen, *proofs, time.time())
        assert quiet.holds(*proofs, time.time())
        return replies

    backend._run = interleaved
    try:
        with app.app_context():
            app.extensions["hybrid_session"].revoke(sid)
    finally:
        del backend._run
    assert not quiet.holds(*proofs, time.time())
    assert replay(app, credential).status_code == 401


def test_a_session_moving_into_redis_leaves_its_older_tokens_behind_at_once(
    server: RedisServer,
) -> None:
    """auto: the view held the sid as good in its token; the write that moves
    it into Redis drops it here before Redis is asked (HS-54), without waiting
    for the message."""
    app = build_app(
        "auto", HYBRID_SESSION_REDIS_URL=server.url, HYBRID_SESSION_MAX_COOKIE_BYTES=1200
    )
    holder = app.test_client()
    holder.post("/set/cart/pear")
    holding(app, holder, "/get/cart")
    older = credential_of(holder)
    holder.post("/set/note/n")  # a newer token of the same sid (its write moves it)
    holder.post("/set/big/" + "b" * 1500)  # past the budget: it moves into Redis
    assert credential_of(holder).startswith("v1.")
    intruder = app.test_client()
    intruder.set_cookie("session", older)
    body = intruder.get("/get/big").json
    assert body is not None and body["new"] is True and body["value"] == "None"


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_an_acl_user_without_the_channel_keeps_sessions_and_revocations_working(
    server: RedisServer, mode: str
) -> None:
    """Redis 7 gives a new ACL user no pub/sub channel: the scripts' messages
    are dropped, nothing fails half-way, and the view never goes live."""
    admin_client = server.client()
    password = "view-acl-0123456789"
    admin_client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", "hs-nochannel", "on", f">{password}", "~*", "+@all", "resetchannels"
    )
    try:
        url = f"redis://hs-nochannel:{password}@127.0.0.1:{server.port}/0"
        app = build_login_app(mode, HYBRID_SESSION_REDIS_URL=url)
        client = app.test_client()
        assert client.post("/login/alice").status_code == 200
        credential = credential_of(client)
        assert client.get("/me").text == "alice"
        assert client.post("/logout").status_code == 200
        assert replay(app, credential).status_code == 401
        again = app.test_client()
        again.post("/login/alice")
        second = credential_of(again)
        assert again.post("/logout-all").status_code == 200
        assert replay(app, second).status_code == 401
        with app.app_context():
            health = app.extensions["hybrid_session"].health()
        if mode == "server":
            assert health["revocation_view"] == {"enabled": False}
        else:
            # It tried (the first check started it) and cannot subscribe.
            assert health["revocation_view"]["live"] is False
        # No script stopped between its writes: every session key has its TTL.
        for key in admin_client.scan_iter("hs:{s:*"):
            assert admin_client.pttl(key) > 0, key
    finally:
        admin_client.acl_deluser("hs-nochannel")
