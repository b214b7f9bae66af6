"""Revocation lists, the per-user index, and what login and logout do to them.

A sid is ended by a mark (``{s:<sid>}:r``) that lives until the session's
absolute deadline, so every token the session ever had dies with it and the
list prunes itself. ``revoke_user`` bumps the user's generation (every jwt
token from an earlier login dies, listed or not) and ends every indexed sid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import threading
import time
import typing as t

from . import signals
from .crypto import DecryptError
from .errors import HybridSessionError
from .errors import StoreUnavailable
from .session import SID_FORMAT
from .session import HybridSessionData
from .session import SessionState
from .session import new_sid
from .stores.backend import STORE_ERRORS

if t.TYPE_CHECKING:
    from flask import Flask

    from .interface import HybridSessionInterface
    from .stores.backend import Op
    from .stores.backend import RedisBackend
    from .stores.base import Context

logger = logging.getLogger("flask_hybridsession")
_SID: t.Final = SID_FORMAT

#: Lifetime of the stored naming key, refreshed by every process that loads it.
NAMING_KEY_TTL_MS: t.Final = 400 * 24 * 3600 * 1000


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
    mode: str
    #: The ``User-Agent`` of the login request.
    user_agent: str | None
    #: The client address of the login request.
    ip: str | None


def utc(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


# What every store keeps about a session beside its data.


def meta_of(state: SessionState) -> dict[str, t.Any]:
    """The session's metadata as stored (sealed) with it."""
    meta: dict[str, t.Any] = {"c": state.created}
    if state.pinned:
        meta["p"] = 1
    if state.user_id is not None:
        meta.update(u=state.user_id, ut=state.user_tag, g=state.user_gen)
    return meta


def apply_meta(state: SessionState, meta: dict[str, t.Any]) -> None:
    """Fill ``state`` from stored metadata.

    :raises ValueError: the metadata is not ours.
    """
    created, user = meta["c"], meta.get("u")
    if not isinstance(created, int):
        raise ValueError("bad created")
    state.created = created
    state.pinned = meta.get("p") == 1
    if user is not None:
        tag, gen = meta.get("ut"), meta.get("g")
        if not isinstance(user, str) or not isinstance(tag, str | None) or not isinstance(gen, int):
            raise ValueError("bad user")
        state.user_id, state.user_tag, state.user_gen = user, tag, gen


# The lifecycle steps the stores run at save.


def begin_save(ctx: Context, session: HybridSessionData, now: int) -> list[Op]:
    """Apply a pending rotation, login or logout to ``session``'s state.

    :return: the ops that end the old sid, to send in the save's round trip.
    """
    state = session._state
    backend = ctx.backend
    ops: list[Op] = []
    if state.origin == "none":
        state.created = now
        state.sid = session.sid  # a new session gets its id now
    if state.rotate and state.origin != "none":
        if backend is not None:
            ops.append(backend.end(session.sid, ctx.mark_ttl_ms(state.created)))
            same_user = not state.logout and state.login in (None, state.user_id)
            if state.user_tag and not same_user:
                # Leaving the user's index. A rotation that stays with the
                # user (regenerate(), a login again) is re-indexed by
                # index_ops, whose script drops the old sid and hands its
                # device on to the new one.
                ops.append(backend.user_drop(state.user_tag, session.sid))
        state.old_sid = session.sid
        state.sid = new_sid()
    if state.login is not None:
        # The absolute clock restarts at login; regenerate() keeps it.
        state.user_id, state.user_tag, state.user_gen = state.login, state.login_tag, 0
        state.created = now
    elif state.logout:
        state.user_id = state.user_tag = None
        state.user_gen = 0
    return ops


def index_ops(ctx: Context, state: SessionState, mode: str) -> list[Op]:
    """Index the session under its user (login, rotation, or a move between stores).

    The reply of the second op is the user's generation.
    """
    backend = ctx.backend
    if backend is None or state.user_tag is None or state.sid is None:
        return []
    deadline = ctx.deadline(state.created)
    info = {"c": state.created, "m": mode}
    sealed = ctx.ring.seal(state.sid, b"index", ctx.serializer.dump_bytes(info))
    index = backend.user_login(
        state.user_tag,
        state.sid,
        sealed,
        now_ms=ctx.now_ms,
        deadline_ms=deadline * 1000,
        old_sid=state.old_sid or "",
        keep_ms=ctx.keep_generation_ms,
    )
    # The device (the login request's client) goes in the script's last
    # argument: sealed at a login; empty otherwise, so the script keeps the
    # stored one (a move between the token and Redis, a mode switch) or hands
    # the old sid's on to the new one (regenerate()).
    index = dataclasses.replace(index, args=(*index.args, _device(ctx, state)))
    return [
        backend.user_mark(state.sid, state.user_tag, ctx.mark_ttl_ms(state.created)),
        index,
    ] + (
        # The naming key lives as long as it names keys.
        [backend.touch(backend.names.naming_key, NAMING_KEY_TTL_MS)]
        if ctx.settings.naming_key is None
        else []
    )


def _device(ctx: Context, state: SessionState) -> bytes:
    """The sealed device of a login (``b""`` when the save is no login).

    Sealed under the user's tag, not the sid, so that a rotation can hand it
    on to the new sid inside the script, with no extra round trip and nothing
    added to the token.
    """
    if state.login is None or state.user_tag is None:
        return b""
    device = {"ua": state.user_agent, "ip": state.ip}
    return ctx.ring.seal(
        _device_owner(state.user_tag), b"device", ctx.serializer.dump_bytes(device)
    )


def _device_owner(tag: str) -> str:
    return "u:" + tag


def end_ops(ctx: Context, state: SessionState) -> list[Op]:
    """End the session for good (cleared, logged out)."""
    backend = ctx.backend
    if backend is None or state.sid is None:
        return []
    ops = [backend.end(state.sid, ctx.mark_ttl_ms(state.created))]
    if state.user_tag:
        ops.append(backend.user_drop(state.user_tag, state.sid))
    return ops


class NamingKey:
    """The key that names user keys: configured, or generated once and kept in Redis.

    It is not derived from ``SECRET_KEY``, so a rotation never renames a key.
    """

    def __init__(self, configured: bytes | None) -> None:
        self._key = configured
        self._lock = threading.Lock()

    @property
    def cached(self) -> bytes | None:
        return self._key

    def load(self, ctx: Context) -> bytes:
        """The naming key; one round trip the first time a process needs it.

        :raises redis.RedisError: Redis is unavailable.
        """
        if self._key is not None:
            return self._key
        backend = ctx.backend
        if backend is None:  # pragma: no cover - callers check for Redis first
            raise RuntimeError("the naming key needs Redis")
        candidate = ctx.ring.seal("", b"naming-key", os.urandom(32))
        [stored] = backend.run([backend.naming_key(candidate, NAMING_KEY_TTL_MS)])
        try:
            key, current = ctx.ring.open("", b"naming-key", stored)
        except DecryptError:
            # Sealed under a key no longer in the ring: names made with it are
            # lost either way; start a new one.
            backend.client.delete(backend.names.naming_key)
            [stored] = backend.run([backend.naming_key(candidate, NAMING_KEY_TTL_MS)])
            key, current = ctx.ring.open("", b"naming-key", stored)
        if not current:
            # Re-seal under the current key before the retired one is dropped.
            backend.client.set(
                backend.names.naming_key,
                ctx.ring.seal("", b"naming-key", key),
                px=NAMING_KEY_TTL_MS,
            )
        with self._lock:
            self._key = key
        return key

    def tag(self, ctx: Context, backend: RedisBackend, user_id: str) -> str:
        return backend.names.user_tag(self.load(ctx), user_id)


# The public operations (HybridSession.revoke & co.), outside the request budget.

_warned_off: set[str] = set()


def _ready(interface: HybridSessionInterface, app: Flask, action: str) -> Context | None:
    """A context for an operation, or None (with one warning) when revocation is off."""
    if interface.backend is None:
        if action not in _warned_off:
            _warned_off.add(action)
            logger.warning(
                "%s does nothing: HYBRID_SESSION_REVOCATION is False in jwt mode.", action
            )
        return None
    secrets = interface._secrets(app)
    if secrets is None:
        raise HybridSessionError(f"{action} needs SECRET_KEY to be set.")
    return interface.context(app, secrets, "cookie")


@contextlib.contextmanager
def _store(interface: HybridSessionInterface) -> t.Iterator[None]:
    try:
        yield
    except STORE_ERRORS as exc:
        logger.error("session store unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(interface.settings.retry_after, cause=type(exc).__name__) from exc


def revoke(interface: HybridSessionInterface, app: Flask, sid: str) -> bool:
    ctx = _ready(interface, app, "revoke()")
    if ctx is None or not _SID.fullmatch(sid):
        return False
    backend = t.cast("RedisBackend", ctx.backend)
    with _store(interface):
        [(fresh, known, tag)] = backend.run([backend.end(sid, ctx.absolute * 1000 + 1000)])
        if tag:
            backend.run([backend.user_drop(tag.decode(), sid)])
    ended = bool(fresh and known)
    if ended:
        signals.session_revoked.send(app, sid=sid, user_id=None, reason="revoke")
    return ended


def revoke_user(interface: HybridSessionInterface, app: Flask, user_id: str) -> int:
    ctx = _ready(interface, app, "revoke_user()")
    if ctx is None:
        return 0
    backend = t.cast("RedisBackend", ctx.backend)
    ttl = ctx.absolute * 1000 + 1000
    with _store(interface):
        tag = interface.naming.tag(ctx, backend, user_id)
        [flat] = backend.run([backend.user_revoke(tag, max(ttl, ctx.keep_generation_ms))])
        entries = dict(zip(flat[::2], flat[1::2], strict=True))
        sids = index_sids(entries)
        replies = backend.run([backend.end(sid, ttl) for sid in sids]) if sids else []
    ended = [
        sid
        for sid, (fresh, _, _) in zip(sids, replies, strict=True)
        if fresh and _alive(ctx, sid, entries[sid.encode()])
    ]
    for sid in ended:
        signals.session_revoked.send(app, sid=sid, user_id=user_id, reason="revoke_user")
    return len(ended)


def _alive(ctx: Context, sid: str, sealed: bytes) -> bool:
    """Whether an index entry's session had not reached its absolute deadline."""
    try:
        plaintext, _ = ctx.ring.open(sid, b"index", sealed)
        created = int(ctx.serializer.loads(plaintext)["c"])
    except (DecryptError, ValueError, KeyError, TypeError):
        return False
    return ctx.deadline(created) > int(ctx.now)


def sessions_for(interface: HybridSessionInterface, app: Flask, user_id: str) -> list[SessionInfo]:
    ctx = _ready(interface, app, "sessions_for()")
    if ctx is None:
        return []
    backend = t.cast("RedisBackend", ctx.backend)
    with _store(interface):
        tag = interface.naming.tag(ctx, backend, user_id)
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
            plaintext, _ = ctx.ring.open(_device_owner(tag), b"device", blob)
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
    entries = t.cast(dict[bytes, bytes], client.hgetall(index))
    sids = index_sids(entries)
    if not sids:
        return [], 0
    pipe = client.pipeline(transaction=False)
    for sid in sids:
        pipe.exists(names.revoked(sid))
        pipe.hget(names.session(sid), "l")
    checks = pipe.execute()
    found, dead = [], []
    for position, sid in enumerate(sids):
        revoked, server_seen = checks[2 * position], checks[2 * position + 1]
        try:
            plaintext, _ = ctx.ring.open(sid, b"index", entries[sid.encode()])
            info = ctx.serializer.loads(plaintext)
            created = int(info["c"])
        except (DecryptError, ValueError, KeyError, TypeError):
            dead.append(sid)
            continue
        if revoked or ctx.deadline(created) <= int(ctx.now):
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
    if dead:
        client.hdel(index, *dead, *(f"{sid}:ls" for sid in dead), *(f"{sid}:d" for sid in dead))
    return sorted(found, key=lambda info: info.last_seen, reverse=True), len(dead)


def is_revoked(interface: HybridSessionInterface, sid: str) -> bool:
    backend = interface.backend
    if backend is None or not _SID.fullmatch(sid):
        return False
    with _store(interface):
        return bool(backend.client.exists(backend.names.revoked(sid)))


def purge(interface: HybridSessionInterface, app: Flask) -> int:
    """Drop index entries of ended sessions; return how many were dropped."""
    ctx = _ready(interface, app, "purge")
    if ctx is None:
        return 0
    backend = t.cast("RedisBackend", ctx.backend)
    prefix = backend.names.prefix
    dropped = 0
    with _store(interface):
        for key in backend.client.scan_iter(match=f"{_glob(prefix)}{{u:*}}:i", count=500):
            tag = key.decode()[len(prefix) + 3 : -3]
            dropped += _live_entries(ctx, backend, tag)[1]
    return dropped


def stats(interface: HybridSessionInterface, app: Flask) -> dict[str, int]:
    """Counts of what Redis holds.

    ``server_sessions``: sessions kept in Redis (guests included);
    ``jwt_sessions``: logged-in sessions that live in their token (guests'
    jwt sessions leave no trace); ``indexed_users``; ``revoked``: live marks.
    """
    counts = dict.fromkeys(("server_sessions", "jwt_sessions", "indexed_users", "revoked"), 0)
    backend = interface.backend
    if backend is None:
        return counts
    names = backend.names
    prefix = _glob(names.prefix)
    with _store(interface):
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
    return counts


def health(interface: HybridSessionInterface) -> dict[str, t.Any]:
    """PING the store and time it; never raises."""
    report: dict[str, t.Any] = {
        "mode": interface.settings.mode,
        "redis": "not used",
        "latency_ms": None,
        "error": None,
    }
    backend = interface.backend
    if backend is None:
        return report
    started = time.perf_counter()
    try:
        backend.client.ping()
    except STORE_ERRORS as exc:
        report.update(redis="unavailable", error=type(exc).__name__)
    else:
        report.update(redis="ok", latency_ms=round((time.perf_counter() - started) * 1000, 3))
    return report


def _glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
