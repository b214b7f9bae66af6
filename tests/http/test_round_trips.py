"""Redis round trips per request, counted on the wire, against SPEC's limits.

A round trip is one flush of commands to Redis (a pipeline counts once).
The counting client wraps a real connection; commands are also read from the
server's own ``INFO commandstats``.
"""

from __future__ import annotations

import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import RedisServer
from ..conftest import TripCounter
from ..conftest import build_app
from ..conftest import counting_client
from .support import credential_of

WRITES = {"hset", "hdel", "del", "set", "pexpire", "expire", "unlink", "setex", "psetex"}


class Meter:
    def __init__(self, server: RedisServer, counter: TripCounter) -> None:
        self.server = server
        self.counter = counter
        self.stats = server.client()

    def _commands(self) -> dict[str, int]:
        info = self.stats.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}

    def measure(self, call: t.Callable[[], t.Any]) -> tuple[int, dict[str, int]]:
        before_trips, before = self.counter.trips, self._commands()
        call()
        after = self._commands()
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        delta.pop("info", None)
        return self.counter.trips - before_trips, delta


@pytest.fixture()
def meter(redis_server: RedisServer, rdb: redis.Redis) -> Meter:
    return Meter(redis_server, TripCounter())


def _app(meter: Meter, mode: str, **config: t.Any) -> Flask:
    """The budgets of a sid's first request in a process: the revocation view,
    which makes repeated reads cost nothing, has its own tests
    (test_revocation_view.py)."""
    client = counting_client(meter.server, meter.counter)
    config.setdefault("HYBRID_SESSION_REVOCATION_VIEW", False)
    return build_app(mode, HYBRID_SESSION_REDIS=client, **config)


def _warm(client: FlaskClient) -> None:
    # Opens the pooled connection and loads the scripts: one-off costs.
    client.post("/set/warm/1")
    client.get("/get/warm")


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_request_without_credential_costs_nothing(meter: Meter, mode: str) -> None:
    app = _app(meter, mode)
    _warm(app.test_client())
    trips, commands = meter.measure(lambda: app.test_client().get("/get/k"))
    assert trips == 0
    assert commands == {}


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_read_is_one_trip_and_writes_nothing(meter: Meter, mode: str) -> None:
    app = _app(meter, mode)
    client = app.test_client()
    _warm(client)
    trips, commands = meter.measure(lambda: client.get("/get/warm"))
    assert trips == 1
    assert not WRITES & commands.keys()


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_change_is_at_most_two_trips(meter: Meter, mode: str) -> None:
    app = _app(meter, mode)
    client = app.test_client()
    _warm(client)
    trips, _ = meter.measure(lambda: client.post("/incr/n"))
    assert trips <= 2
    trips, _ = meter.measure(lambda: client.post("/clear"))
    assert trips <= 2


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_idle_refresh_rides_in_the_read(meter: Meter, mode: str) -> None:
    app = _app(meter, mode, HYBRID_SESSION_IDLE_TIMEOUT=600)
    client = app.test_client()
    _warm(client)
    trips, commands = meter.measure(lambda: client.get("/get/warm"))
    assert trips == 1
    if mode != "server":
        assert not WRITES & commands.keys()


def test_new_jwt_session_costs_no_trip(meter: Meter) -> None:
    app = _app(meter, "jwt")
    _warm(app.test_client())
    trips, _ = meter.measure(lambda: app.test_client().post("/set/k/v"))
    assert trips == 0


def test_new_server_session_is_one_trip(meter: Meter) -> None:
    app = _app(meter, "server")
    _warm(app.test_client())
    trips, commands = meter.measure(lambda: app.test_client().post("/set/k/v"))
    assert trips == 1
    assert commands.get("evalsha") == 1


def test_jwt_without_revocation_never_talks_to_redis(meter: Meter) -> None:
    app = _app(meter, "jwt", HYBRID_SESSION_REVOCATION=False)
    client = app.test_client()
    trips, commands = meter.measure(
        lambda: (client.post("/set/k/v"), client.get("/get/k"), client.post("/clear"))
    )
    assert trips == 0
    assert commands == {}


def test_mode_switch_reissue_is_within_two_trips(meter: Meter) -> None:
    jwt_app = _app(meter, "jwt")
    client = jwt_app.test_client()
    _warm(client)
    server_app = _app(meter, "server")
    _warm(server_app.test_client())
    server_client = server_app.test_client()
    token = credential_of(client)
    server_client.set_cookie("session", token)
    trips, _ = meter.measure(lambda: server_client.get("/get/warm"))
    assert trips == 2
    trips, _ = meter.measure(lambda: server_client.get("/get/warm"))
    assert trips == 1


@pytest.mark.parametrize("mode", ["jwt", "server", "auto"])
def test_login_read_and_logout_stay_within_budget(meter: Meter, mode: str) -> None:
    from ..conftest import build_login_app

    client_redis = counting_client(meter.server, meter.counter)
    app = build_login_app(mode, HYBRID_SESSION_REDIS=client_redis)
    _warm(app.test_client())
    # The very first login of a process (no cookie, naming key not loaded yet).
    first = app.test_client()
    trips, _ = meter.measure(lambda: first.post("/login/alice"))
    assert trips <= 2
    # A guest with a session logs in: read, then one write trip.
    guest = app.test_client()
    guest.post("/set/cart/1")
    trips, _ = meter.measure(lambda: guest.post("/login/bob"))
    assert trips <= 2
    # A logged-in read: the sid's mark and the user's generation, one trip.
    trips, commands = meter.measure(lambda: guest.get("/me"))
    assert trips == 1
    assert not WRITES & commands.keys()
    trips, _ = meter.measure(lambda: guest.post("/logout"))
    assert trips <= 2


def test_new_small_auto_session_costs_no_trip(meter: Meter) -> None:
    app = _app(meter, "auto")
    _warm(app.test_client())
    trips, _ = meter.measure(lambda: app.test_client().post("/set/k/v"))
    assert trips == 0
