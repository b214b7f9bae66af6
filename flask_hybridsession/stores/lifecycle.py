"""What every store does around a save: the session's bookkeeping, rotation, the user index.

``meta_of``/``apply_meta`` carry the bookkeeping (created, user, salt...) in and out of
a store; ``begin_save`` rotates the sid where a login or ``regenerate()`` asked for it and
ends the old one; ``index_ops`` files a logged-in session under its user (with the device
of its login); ``end_ops`` ends a session for good. Each returns the ops to send in the
save's own round trip.
"""

from __future__ import annotations

import logging
import typing as t

from ..session import HybridSessionData
from ..session import SessionState
from ..session import new_sid

if t.TYPE_CHECKING:
    from .base import Context
    from .redis_client import Op

logger = logging.getLogger("flask_hybridsession")


# What every store keeps about a session beside its data.


def meta_of(state: SessionState) -> dict[str, t.Any]:
    """The session's metadata as stored (sealed) with it."""
    meta: dict[str, t.Any] = {"c": state.stored.created}
    if state.stored.pinned:
        meta["p"] = 1
    if state.user.id is not None:
        meta.update(u=state.user.id, ut=state.user.tag, g=state.user.generation)
    return meta


def apply_meta(state: SessionState, meta: dict[str, t.Any]) -> None:
    """Fill ``state`` from stored metadata.

    :raises ValueError: the metadata is not ours.
    """
    created, user = meta["c"], meta.get("u")
    if not isinstance(created, int):
        raise ValueError("bad created")
    epoch = meta.get("e")
    state.stored.created = created
    state.stored.epoch = epoch if isinstance(epoch, int) else None
    state.stored.pinned = meta.get("p") == 1
    if user is not None:
        tag, gen = meta.get("ut"), meta.get("g")
        if not isinstance(user, str) or not isinstance(tag, str | None) or not isinstance(gen, int):
            raise ValueError("bad user")
        state.user.id, state.user.tag, state.user.generation = user, tag, gen


# The lifecycle steps the stores run at save.


def begin_save(ctx: Context, session: HybridSessionData, now: int) -> list[Op]:
    """Apply a pending rotation, login or logout to ``session``'s state.

    :return: the ops that end the old sid, to send in the save's round trip.
    """
    state = session._state
    ops: list[Op] = []
    if state.stored.origin is None:
        state.stored.created = now
        state.sid = session.sid  # a new session gets its id now
    if state.due.rotate and state.stored.origin is not None:
        ops += _rotation_ops(ctx, state, session.sid)
        state.due.old_sid = session.sid
        state.sid = new_sid()
    if state.due.login is not None:
        # The absolute clock restarts at login; regenerate() keeps it.
        state.user.id, state.user.tag, state.user.generation = (
            state.due.login,
            state.due.login_tag,
            0,
        )
        state.stored.created = now
    elif state.due.logout:
        state.user.id = state.user.tag = None
        state.user.generation = 0
    return ops


def _rotation_ops(ctx: Context, state: SessionState, sid: str) -> list[Op]:
    """End the sid a rotation replaces (a login, a logout, ``regenerate()``)."""
    backend = ctx.backend
    ops = [backend.end(sid, ctx.mark_ttl_ms(state.stored.created))]
    if state.user.tag is None:
        # A guest's token has no proof to take away: its record marks it.
        ops.append(backend.mark(sid, _last_token_ms(ctx, state), ctx.now_ms))
        return ops
    same_user = not state.due.logout and state.due.login in (None, state.user.id)
    if not same_user:
        # Leaving the user's index. A rotation that stays with the user
        # (regenerate(), a login again) is re-indexed by index_ops, whose
        # script drops the old sid and hands its device on to the new one.
        ops.append(backend.user_drop(state.user.tag, sid))
    return ops


def _last_token_ms(ctx: Context, state: SessionState) -> int:
    """When the last token of the session can no longer be valid (ms)."""
    return (ctx.deadline(state.stored.created) + 1) * 1000


def index_ops(ctx: Context, state: SessionState) -> list[Op]:
    """Index the session under its user (login, rotation, or a move between stores).

    The reply of the second op is the user's generation.
    """
    backend = ctx.backend
    if state.user.tag is None or state.sid is None:
        return []
    deadline = ctx.deadline(state.stored.created)
    # Where the session lives is not kept: sessions_for tells it from Redis.
    info = {"c": state.stored.created}
    sealed = ctx.ring.seal(state.sid, b"index", ctx.serializer.dump_bytes(info))
    index = backend.user_login(
        state.user.tag,
        state.sid,
        sealed,
        now_ms=ctx.now_ms,
        deadline_ms=deadline * 1000,
        old_sid=state.due.old_sid or "",
        keep_ms=ctx.keep_generation_ms,
        # Sealed at a login; empty otherwise, so the script keeps the stored
        # one (a move between the token and Redis, a mode switch) or hands the
        # old sid's on to the new one (regenerate()).
        device=_device(ctx, state),
        cap=ctx.settings.max_sessions_per_user,
    )
    return [
        backend.user_mark(state.sid, state.user.tag, ctx.mark_ttl_ms(state.stored.created)),
        index,
    ]


def settle_index(ctx: Context, reply: list[t.Any]) -> int:
    """The generation an index op replied; ends the sessions it dropped past the cap.

    Those leave the index in the op's own script; their proofs are in their
    own slots, so ending them costs a trip more, at such logins only.
    """
    generation, dropped = int(reply[0]), [sid.decode() for sid in reply[1:]]
    if dropped:
        backend = ctx.backend
        backend.run([backend.end(sid, ctx.absolute * 1000 + 1000) for sid in dropped])
        logger.info("a login past HYBRID_SESSION_MAX_SESSIONS_PER_USER ended %d", len(dropped))
    return generation


def _device(ctx: Context, state: SessionState) -> bytes:
    """The sealed device of a login (``b""`` when the save is no login).

    Sealed under the user's tag, not the sid, so that a rotation can hand it
    on to the new sid inside the script, with no extra round trip and nothing
    added to the token.
    """
    if state.due.login is None or state.user.tag is None:
        return b""
    device = {"ua": state.user.agent, "ip": state.user.ip}
    return ctx.ring.seal(device_owner(state.user.tag), b"device", ctx.serializer.dump_bytes(device))


def device_owner(tag: str) -> str:
    return "u:" + tag


def end_ops(ctx: Context, state: SessionState) -> list[Op]:
    """End the session for good (cleared, logged out).

    A guest's leaves nothing behind: its copy in Redis, if any, is deleted, and
    its old tokens expire by themselves (a flood of guests writes nothing).
    ``HybridSession.logout()`` and ``revoke(sid)`` mark a guest's sid: the app asked.
    """
    backend = ctx.backend
    if state.sid is None:
        return []
    if state.user.tag is None:
        if state.due.logout:
            # HybridSession.logout(): the app ends it, as with revoke(sid).
            return [
                backend.end(state.sid, ctx.mark_ttl_ms(state.stored.created)),
                backend.mark(state.sid, _last_token_ms(ctx, state), ctx.now_ms),
            ]
        if state.stored.origin != "server":
            return []
        return [backend.end(state.sid, None)]
    return [
        backend.end(state.sid, ctx.mark_ttl_ms(state.stored.created)),
        backend.user_drop(state.user.tag, state.sid),
    ]
