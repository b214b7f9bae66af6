"""``auto`` mode: a session lives in its token while it fits, in Redis when it outgrows it.

A write that pushes the token past ``HYBRID_SESSION_MAX_COOKIE_BYTES`` (the
whole ``Set-Cookie`` value) moves the session to Redis in that response; a
write that brings it under 75 % of the budget moves it back into a token and
deletes the Redis copy. The gap between the two stops a session on the
boundary from flapping. The sid never changes on a move, and a pinned session
(``HybridSession.pin()``, or ``HYBRID_SESSION_AUTO_PIN_LOGIN``) stays in Redis.
"""

from __future__ import annotations

import typing as t

from ..errors import SessionTooLarge
from .base import Context
from .base import Issue
from .jwt import JwtStore
from .server import ServerStore

if t.TYPE_CHECKING:
    from ..session import HybridSessionData

#: A session in Redis moves back into a token only below this share of the budget.
SHRINK_RATIO: t.Final = 0.75


class AutoStore:
    """Chooses, at each write, the token or Redis for a session."""

    def __init__(self, jwt: JwtStore, server: ServerStore) -> None:
        self.jwt = jwt
        self.server = server

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        state = session._state
        if state.due.login is not None and ctx.settings.auto_pin_login:
            state.stored.pinned = True
        in_redis = state.stored.origin == "server"
        if not session or state.stored.pinned:
            return (self.server if in_redis or state.stored.pinned else self.jwt).save(ctx, session)
        changing = session.modified or state.due.rotate
        if not changing:
            if in_redis:
                return self.server.save(ctx, session)  # stays until its next write
            try:
                return self.jwt.save(ctx, session)
            except SessionTooLarge:
                return self.server.save(ctx, session)  # a renewal that no longer fits
        due = state.due
        if not in_redis and not (due.rotate or due.login is not None or due.logout):
            # A write of a session that lives in its token: the token is
            # minted and measured; only one that no longer fits moves to
            # Redis (nothing was sent or changed before the size check).
            try:
                return self.jwt.save(ctx, session)
            except SessionTooLarge:
                return self.server.save(ctx, session)
        budget = ctx.settings.max_cookie_bytes
        limit = budget * SHRINK_RATIO if in_redis else budget
        if self.jwt.fits(ctx, session, limit):
            return self.jwt.save(ctx, session)
        return self.server.save(ctx, session)
