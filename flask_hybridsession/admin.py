"""The admin operations: revoke, revoke_user, sessions_for, is_revoked, purge, stats, health.

Outside any request's round-trip budget. ``revoke(sid)`` takes away the sid's
proofs (its server copy, its user mark), tombstones it against parallel writes
and marks it in its revocation record until its last token has expired, so
every token the session ever had dies with it. ``revoke_user`` replaces the
user's generation (every credential from an earlier login dies, listed or not)
and ends every indexed sid. See :mod:`.stores.revocation`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import time
import typing as t
import uuid

from . import signals
from .crypto import DecryptError
from .errors import HybridSessionError
from .errors import StoreUnavailable
from .session import SID_FORMAT
from .session import Location
from .stores.lifecycle import device_owner
from .stores.redis_client import STORE_ERRORS
from .stores.revocation import durability
from .stores.view import view_subscribers

if t.TYPE_CHECKING:
    from flask import Flask

    from .engine import SessionEngine
    from .stores.base import Context
    from .stores.redis_client import RedisBackend

logger = logging.getLogger("flask_hybridsession")
_SID: t.Final = SID_FORMAT


@dataclasses.dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session of a user, as a "your devices" page shows it.

    .. versionadded:: 0.1
    """

    #: The session's id (not a credential).
    sid: str
    #: When the session was created (its login), aware UTC.
    created_at: datetime.datetime
    #: The last request seen, aware UTC (updated at most once a minute).
    last_seen: datetime.datetime
    #: Where the session lives now: ``"jwt"`` or ``"server"``.
    mode: Location
    #: The ``User-Agent`` of the login request.
    user_agent: str | None
    #: The client address of the login request.
    ip: str | None


def utc(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


# What every store keeps about a session beside its data.


# The public operations (HybridSession.revoke & co.), outside the request budget.

_warned_off: set[str] = set()


def _ready(engine: SessionEngine, app: Flask, action: str) -> Context | None:
    """A context for an operation, or None (with one warning) when revocation is off."""
    if engine.backend is None:
        if action not in _warned_off:
            _warned_off.add(action)
            logger.warning(
                "%s does nothing: HYBRID_SESSION_REVOCATION is False in jwt mode.", action
            )
        return None
    secrets = engine.secrets(app.config)
    if secrets is None:
        raise HybridSessionError(f"{action} needs SECRET_KEY to be set.")
    return engine.context(app.config, secrets)


@contextlib.contextmanager
def _store(engine: SessionEngine) -> t.Iterator[None]:
    try:
        yield
    except STORE_ERRORS as exc:
        logger.error("session store unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(engine.settings.retry_after, cause=type(exc).__name__) from exc


def revoke(engine: SessionEngine, app: Flask, sid: str) -> bool:
    ctx = _ready(engine, app, "revoke()")
    if ctx is None or not _SID.fullmatch(sid):
        return False
    backend = ctx.backend
    with _store(engine):
        # The tombstone stops parallel writes, the mark in its record outlives
        # them (a guest's tokens have no proof to take away).
        [(fresh, known, tag), _] = backend.run(
            [
                backend.end(sid, ctx.absolute * 1000 + 1000),
                backend.mark(sid, ctx.now_ms + ctx.absolute * 1000 + 1000, ctx.now_ms),
            ]
        )
        if tag:
            backend.run([backend.user_drop(tag.decode(), sid)])
    ended = bool(fresh and known)
    if ended:
        signals.session_revoked.send(app, sid=sid, user_id=None, reason="revoke")
    return ended


def revoke_user(engine: SessionEngine, app: Flask, user_id: str) -> int:
    ctx = _ready(engine, app, "revoke_user()")
    if ctx is None:
        return 0
    backend = ctx.backend
    ttl = ctx.absolute * 1000 + 1000
    ended: list[str] = []
    with _store(engine):
        tag = engine.user_tag(ctx, user_id)
        # Its own name, in the user's slot: two calls at once never share it.
        ending = f"{backend.names.user_index(tag)}:ending:{uuid.uuid4().hex}"
        keep = max(ttl, ctx.keep_generation_ms)
        [[renamed]] = backend.run([backend.user_revoke(tag, keep, ending)])
        if renamed:
            # In slices, so no command holds Redis for long, whatever the count.
            for entries in _slices(backend, ending):
                sids = index_sids(entries)
                replies = backend.run([backend.end(sid, ttl) for sid in sids]) if sids else []
                ended += (
                    sid
                    for sid, (fresh, _, _) in zip(sids, replies, strict=True)
                    if fresh and _alive(ctx, sid, entries[sid.encode()])
                )
            backend.client.unlink(ending)
    for sid in ended:
        signals.session_revoked.send(app, sid=sid, user_id=user_id, reason="revoke_user")
    return len(ended)


#: Entries read per HSCAN, sids checked or ended per pipeline.
SLICE: t.Final = 300


def _slices(backend: RedisBackend, key: str) -> t.Iterator[dict[bytes, bytes]]:
    """A hash's fields and values, read by HSCAN in slices of about ``3 * SLICE``
    (an index holds three fields a session). A slice may hold a sid's entry
    without its ``:ls`` or ``:d`` field: merge them where those are needed."""
    pending: dict[bytes, bytes] = {}
    for field, value in backend.client.hscan_iter(key, count=SLICE):
        pending[field] = value
        if len(pending) >= 3 * SLICE:
            yield pending
            pending = {}
    if pending:
        yield pending


def _alive(ctx: Context, sid: str, sealed: bytes) -> bool:
    """Whether an index entry's session had not reached its absolute deadline."""
    try:
        plaintext, _ = ctx.ring.open(sid, b"index", sealed)
        created = int(ctx.serializer.loads(plaintext)["c"])
    except (DecryptError, ValueError, KeyError, TypeError):
        return False
    return ctx.deadline(created) > int(ctx.now)


def sessions_for(engine: SessionEngine, app: Flask, user_id: str) -> list[SessionInfo]:
    ctx = _ready(engine, app, "sessions_for()")
    if ctx is None:
        return []
    backend = ctx.backend
    with _store(engine):
        tag = engine.user_tag(ctx, user_id)
        return _live_entries(ctx, backend, tag)[0]


def index_sids(fields: t.Iterable[bytes]) -> list[str]:
    """The sids a user index lists.

    Beside each ``<sid>`` field (its sealed info) it holds ``<sid>:ls`` (last
    seen) and ``<sid>:d`` (its sealed device); a sid never holds a colon.
    """
    return [field.decode() for field in fields if b":" not in field]


def _device_of(
    ctx: Context, tag: str, entries: dict[bytes, bytes], sid: str, info: dict[str, t.Any]
) -> tuple[str | None, str | None]:
    """The user agent and IP of a session's login, as its index entry keeps them."""
    # Entries written before the device had its own field kept it in the info.
    agent, address = info.get("ua"), info.get("ip")
    blob = entries.get(f"{sid}:d".encode())
    if blob is not None:
        try:
            plaintext, _ = ctx.ring.open(device_owner(tag), b"device", blob)
            device = ctx.serializer.loads(plaintext)
            agent, address = device["ua"], device["ip"]
        except (DecryptError, ValueError, KeyError, TypeError):
            agent = address = None
    return (
        agent if isinstance(agent, str) else None,
        address if isinstance(address, str) else None,
    )


def _live_entries(ctx: Context, backend: RedisBackend, tag: str) -> tuple[list[SessionInfo], int]:
    """The index's live sessions, and how many entries of ended ones it dropped."""
    client, names = backend.client, backend.names
    index = names.user_index(tag)
    entries: dict[bytes, bytes] = {}
    for part in _slices(backend, index):
        entries.update(part)
    sids = index_sids(entries)
    if not sids:
        return [], 0
    checks: list[t.Any] = []
    for start in range(0, len(sids), SLICE):
        pipe = client.pipeline(transaction=False)
        for sid in sids[start : start + SLICE]:
            # A session whose user mark is gone has lost its proof: it is over.
            pipe.exists(names.user_mark(sid))
            pipe.hget(names.session(sid), "l")
        checks += pipe.execute()
    found, dead = [], []
    for position, sid in enumerate(sids):
        proven, server_seen = checks[2 * position], checks[2 * position + 1]
        try:
            plaintext, _ = ctx.ring.open(sid, b"index", entries[sid.encode()])
            info = ctx.serializer.loads(plaintext)
            created = int(info["c"])
        except (DecryptError, ValueError, KeyError, TypeError):
            dead.append(sid)
            continue
        if not proven or ctx.deadline(created) <= int(ctx.now):
            dead.append(sid)
            continue
        seen = max(
            int(entries.get(f"{sid}:ls".encode(), b"0") or 0),
            int(server_seen or 0),
            created * 1000,
        )
        agent, address = _device_of(ctx, tag, entries, sid, info)
        found.append(
            SessionInfo(
                sid=sid,
                created_at=utc(created * 1000),
                last_seen=utc(seen),
                mode="server" if server_seen is not None else "jwt",
                user_agent=agent,
                ip=address,
            )
        )
    for start in range(0, len(dead), SLICE):
        doomed = dead[start : start + SLICE]
        client.hdel(
            index, *doomed, *(f"{sid}:ls" for sid in doomed), *(f"{sid}:d" for sid in doomed)
        )
    return sorted(found, key=lambda info: info.last_seen, reverse=True), len(dead)


def is_revoked(engine: SessionEngine, sid: str) -> bool:
    backend = engine.backend
    if backend is None or not _SID.fullmatch(sid):
        return False
    with _store(engine):
        pipe = backend.client.pipeline(transaction=False)
        pipe.exists(backend.names.revoked(sid))
        pipe.zscore(backend.names.record(sid), sid)
        tombstone, until = pipe.execute()
        return bool(tombstone) or (until is not None and until > time.time() * 1000)


def purge(engine: SessionEngine, app: Flask) -> int:
    """Drop index entries of ended sessions; return how many were dropped."""
    ctx = _ready(engine, app, "purge")
    if ctx is None:
        return 0
    backend = ctx.backend
    prefix = backend.names.prefix
    dropped = 0
    with _store(engine):
        for key in backend.client.scan_iter(match=f"{_glob(prefix)}{{u:*}}:i", count=500):
            tag = key.decode()[len(prefix) + 3 : -3]
            dropped += _live_entries(ctx, backend, tag)[1]
    return dropped


def stats(engine: SessionEngine, app: Flask) -> dict[str, int]:
    """Counts of what Redis holds.

    ``server_sessions``: sessions kept in Redis (guests included);
    ``jwt_sessions``: logged-in sessions that live in their token (guests'
    jwt sessions leave no trace); ``indexed_users``; ``revoked``: live
    tombstones; ``unacknowledged_revocations``: revocations no replica
    acknowledged in time (``HYBRID_SESSION_WAIT_REPLICAS``), the last 31 days.
    """
    counts = dict.fromkeys(
        (
            "server_sessions",
            "jwt_sessions",
            "indexed_users",
            "revoked",
            "unacknowledged_revocations",
            "view_subscribers",
        ),
        0,
    )
    backend = engine.backend
    if backend is None:
        return counts
    names = backend.names
    prefix = _glob(names.prefix)
    with _store(engine):
        for key in backend.client.scan_iter(match=f"{prefix}{{*", count=1000):
            rest = key[len(names.prefix) :]
            if rest.endswith(b":r"):
                counts["revoked"] += 1
            elif rest.endswith(b":i"):
                counts["indexed_users"] += 1
                sids = index_sids(t.cast(list[bytes], backend.client.hkeys(key)))
                pipe = backend.client.pipeline(transaction=False)
                for sid in sids:
                    # In Redis, or ended: either way not a live jwt session.
                    pipe.exists(names.session(sid), names.revoked(sid))
                counts["jwt_sessions"] += pipe.execute().count(0)
            elif rest.startswith(b"{s:") and rest.endswith(b"}"):
                counts["server_sessions"] += 1
        counts["unacknowledged_revocations"] = int(backend.client.get(names.unacknowledged) or 0)
        counts["view_subscribers"] = view_subscribers(backend.client, names.view)
    return counts


def health(engine: SessionEngine) -> dict[str, t.Any]:
    """PING the store and time it; never raises."""
    report: dict[str, t.Any] = {
        "mode": engine.settings.mode,
        "redis": "not used",
        "latency_ms": None,
        "error": None,
    }
    backend = engine.backend
    if backend is None:
        return report
    started = time.perf_counter()
    try:
        backend.client.ping()
        latency = round((time.perf_counter() - started) * 1000, 3)
        # What Redis may lose: sessions end early where keys can be evicted,
        # and everyone signs in again after a restart without persistence.
        report.update(durability(backend.client))
    except STORE_ERRORS as exc:
        report.update(redis="unavailable", error=type(exc).__name__)
    else:
        report.update(redis="ok", latency_ms=latency)
    # Times this process saw Redis lose revocation records (each one ERROR-logged
    # once), and revocations no replica acknowledged in time (WARNING-logged).
    report["epoch_losses"] = engine.revocation.losses
    report["unacknowledged_revocations"] = backend.replication.unacknowledged
    view = engine.revocation.view
    report["revocation_view"] = view.report() if view is not None else {"enabled": False}
    return report


def _glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
