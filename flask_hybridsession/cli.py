"""The ``flask hybrid-session`` command group.

.. code-block:: text

    flask hybrid-session sessions USER_ID      # a header row, then one line per live session
    flask hybrid-session revoke SID
    flask hybrid-session revoke-user USER_ID   # log out everywhere
    flask hybrid-session purge                 # drop stale index entries
    flask hybrid-session stats                 # what the Redis it reads holds
    flask hybrid-session migrate-from-flask-session   # see flask_hybridsession.migrate

Every command takes ``--json`` for machine-readable output. Sids are shown
(they are not credentials); credentials never are, not even in an error.

Exit status: 0 when the command did its work (a well-formed sid that is
unknown or already ended included); 1 with a one-line ``Error: ...`` on stderr
for input it refuses (a malformed sid, an empty user id), when Redis is
unavailable, or when there is no Redis to act on (jwt mode with
``HYBRID_SESSION_REVOCATION = False``); 2 for a usage error. ``stats`` exits 0
whatever Redis answers; the migration also exits 1 when it refused a value.
"""

from __future__ import annotations

import contextlib
import json
import re
import typing as t

import click
import redis
from flask import current_app
from flask.cli import AppGroup
from redis.cluster import RedisCluster
from redis.sentinel import SentinelConnectionPool

from . import admin
from .errors import HybridSessionError
from .errors import StoreUnavailable
from .interface import HybridSessionInterface
from .interface import real_app
from .interface import serving
from .migrate import migrate_command
from .session import SID_FORMAT
from .stores import jwt as jwt_store
from .stores import server

cli = AppGroup("hybrid-session", help="Inspect and revoke flask-hybridsession sessions.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
cli.add_command(migrate_command)

#: What the sessions table's columns are called.
HEADER: t.Final = ("SID", "CREATED", "LAST SEEN", "MODE", "USER AGENT", "IP")
#: A sid as an argument: base64url may begin with "-", which click would
#: otherwise read as an option (``revoke -s8Q0S1h7ptSYaNoIuPFuw``).
_SID_LIKE: t.Final = re.compile(r"-[A-Za-z0-9_-]{21}")


class SidCommand(click.Command):
    """A command whose SID argument may begin with ``-``, as one sid in 64 does."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            dashed = [arg for arg in args if _SID_LIKE.fullmatch(arg)]
            if dashed:
                # Everything after "--" is an argument, never an option.
                args = [arg for arg in args if arg not in dashed] + ["--", *dashed]
        return super().parse_args(ctx, args)


def _interface() -> HybridSessionInterface:
    found = serving(current_app)
    if found is None:
        raise click.ClickException("HybridSession(app) is not set up on this app.")
    return found


def _with_redis(what: str) -> HybridSessionInterface:
    """The interface, for a command that cannot work without Redis."""
    interface = _interface()
    if interface.backend is None:
        raise click.ClickException(
            f"there is no Redis to {what}: HYBRID_SESSION_REVOCATION is False in jwt mode,"
            " so sessions live only in their tokens until they expire."
        )
    return interface


@contextlib.contextmanager
def _failures() -> t.Iterator[None]:
    """Redis down, or no SECRET_KEY: one line on stderr and status 1, no traceback."""
    try:
        yield
    except StoreUnavailable as exc:
        raise click.ClickException(
            f"Redis is unavailable ({exc.cause or 'no answer'}); retry once it answers."
        ) from None
    except HybridSessionError as exc:
        raise click.ClickException(str(exc)) from None


def _sid(value: str) -> None:
    """Refuse ``value`` unless it has the shape of a sid; never echo it (it may be a credential)."""
    if SID_FORMAT.fullmatch(value):
        return
    shown = "`flask hybrid-session sessions USER_ID` lists them"
    if not value.strip():
        raise click.ClickException(f"SID is empty; {shown}.")
    if server.TOKEN_FORMAT.fullmatch(value) or jwt_store.TOKEN_FORMAT.fullmatch(value):
        raise click.ClickException(
            "SID looks like a session credential (a cookie or bearer token), not a sid;"
            f" it was not used. Never paste credentials: {shown}."
        )
    raise click.ClickException(
        f"SID is not a session id ({len(value)} characters); a sid is 22 characters of"
        f" A-Z, a-z, 0-9, '-' and '_': {shown}."
    )


def _user_id(value: str) -> None:
    if not value.strip():
        raise click.ClickException(
            "USER_ID is empty; give the id Flask-Login keeps for the user"
            " (what current_user.get_id() returns)."
        )


def _out(as_json: bool, data: t.Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else text)


def _printable(text: str | None) -> str:
    """A stored user agent as a terminal may show it: control characters escaped."""
    if not text:
        return "-"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _table(rows: list[tuple[str, ...]]) -> str:
    """Columns two spaces apart, each as wide as its widest cell (the last one unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


@cli.command("sessions")
@click.argument("user_id")
@json_option
def sessions_command(user_id: str, as_json: bool) -> None:
    """List USER_ID's live sessions: a header row, then one line per session.

    Each line starts with the session's full sid (what `revoke` takes), then
    when it was created and last seen, where it lives now (jwt: its token;
    server: Redis), and the user agent and IP of its login ("-" when unknown).
    An empty USER_ID exits with status 1; one that begins with "-" goes after
    "--".
    """
    _user_id(user_id)
    interface = _with_redis("list sessions from")
    with _failures():
        found = admin.sessions_for(interface.engine, real_app(), user_id)
    rows = [
        {
            "sid": s.sid,
            "created_at": s.created_at.isoformat(timespec="seconds"),
            "last_seen": s.last_seen.isoformat(timespec="seconds"),
            "mode": s.mode,
            "user_agent": s.user_agent,
            "ip": s.ip,
        }
        for s in found
    ]
    if as_json or not rows:
        _out(as_json, rows, f"No live sessions for {_printable(user_id)}.")
        return
    lines = [
        (
            s.sid,
            s.created_at.isoformat(timespec="seconds"),
            s.last_seen.isoformat(timespec="seconds"),
            s.mode,
            _printable(s.user_agent),
            _printable(s.ip),
        )
        for s in found
    ]
    click.echo(_table([HEADER, *lines]))


@cli.command("revoke", cls=SidCommand)
@click.argument("sid")
@json_option
def revoke_command(sid: str, as_json: bool) -> None:
    """End session SID wherever it lives.

    SID is a sid as `sessions` lists it (one that begins with "-" works as
    is). A well-formed sid that is unknown or already ended is no error; a
    malformed one exits with status 1.
    """
    _sid(sid)
    interface = _with_redis("revoke sessions in")
    with _failures():
        ended = admin.revoke(interface.engine, real_app(), sid)
    _out(
        as_json,
        {"sid": sid, "revoked": ended},
        f"Revoked {sid}." if ended else f"{sid} is unknown or already ended.",
    )


@cli.command("revoke-user")
@click.argument("user_id")
@json_option
def revoke_user_command(user_id: str, as_json: bool) -> None:
    """Log USER_ID out everywhere.

    An empty USER_ID exits with status 1. One that begins with "-" goes after
    "--": revoke-user -- -42.
    """
    _user_id(user_id)
    interface = _with_redis("revoke sessions in")
    with _failures():
        count = admin.revoke_user(interface.engine, real_app(), user_id)
    _out(
        as_json,
        {"user_id": user_id, "revoked": count},
        f"Every credential of {_printable(user_id)} from an earlier login is refused"
        f" ({count} listed session{'s' * (count != 1)} ended).",
    )


@cli.command("purge")
@json_option
def purge_command(as_json: bool) -> None:
    """Drop index entries of sessions that have ended."""
    interface = _with_redis("purge")
    with _failures():
        dropped = admin.purge(interface.engine, real_app())
    _out(as_json, {"dropped": dropped}, f"Dropped {dropped} stale index entries.")


def redis_location(client: t.Any) -> str:
    """Where ``client`` connects, as a URL without user name or password."""
    if isinstance(client, RedisCluster):
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        nodes = ",".join(f"{node.host}:{node.port}" for node in primaries)
        return f"redis+cluster://{nodes}"
    pool = getattr(client, "connection_pool", None)
    kwargs: dict[str, t.Any] = getattr(pool, "connection_kwargs", {})
    db = kwargs.get("db", 0)
    if isinstance(pool, SentinelConnectionPool):
        sentinels = ",".join(
            f"{s.connection_pool.connection_kwargs.get('host')}:"
            f"{s.connection_pool.connection_kwargs.get('port')}"
            for s in pool.sentinel_manager.sentinels
        )
        return f"redis+sentinel://{sentinels}/{pool.service_name}/{db}"
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    if "host" in kwargs:
        ssl = pool is not None and issubclass(pool.connection_class, redis.SSLConnection)
        return f"{'rediss' if ssl else 'redis'}://{kwargs['host']}:{kwargs.get('port', 6379)}/{db}"
    # The embedded server: its socket is known once it runs; its database file is.
    database = getattr(kwargs.get("server"), "db", None)
    return f"embedded Redis ({database})" if isinstance(database, str) else "unknown"


#: The order ``stats`` prints its figures in, and their labels.
_STATS_LINES: t.Final = (
    ("source", "source"),
    ("key_prefix", "key prefix"),
    ("redis", "redis"),
    ("latency_ms", "latency ms"),
    ("error", "error"),
    ("configured_mode", "configured mode (this process)"),
    ("server_sessions", "server sessions"),
    ("jwt_sessions", "jwt sessions"),
    ("indexed_users", "indexed users"),
    ("revoked", "revoked"),
    ("unacknowledged_revocations", "unacknowledged revocations"),
    ("view_subscribers", "revocation views listening"),
)


@cli.command("stats")
@json_option
def stats_command(as_json: bool) -> None:
    """Count what the Redis this process reads holds under its key prefix.

    Says which Redis (its URL, without user name or password) and key prefix
    the figures come from. Counts go by where sessions live, whatever mode wrote them:
    server sessions (hashes in Redis, guests' included), jwt sessions
    (logged-in sessions that live in their token), indexed users and
    tombstones of ended sids. The configured mode is this process's configuration,
    which need not be the running app's. Exits 0 even when Redis is down.
    """
    interface = _interface()
    backend = interface.backend
    health = admin.health(interface.engine)
    figures: dict[str, t.Any] = {
        "source": None if backend is None else redis_location(backend.client),
        "key_prefix": interface.settings.key_prefix,
        "redis": health["redis"],
        "latency_ms": health["latency_ms"],
        "error": health["error"],
        "configured_mode": interface.settings.mode,
    }
    if health["redis"] == "ok":
        with _failures():
            figures.update(admin.stats(interface.engine, real_app()))
    text = "\n".join(
        f"{label}: {'-' if figures[name] is None else figures[name]}"
        for name, label in _STATS_LINES
        if name in figures and (name != "error" or figures[name] is not None)
    )
    _out(as_json, figures, text)
