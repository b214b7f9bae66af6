"""``jwt`` mode: the whole session travels in a signed JWT with an encrypted payload.

Claims: ``sid`` (stable for the session's life), ``jti`` (fresh per token),
``iat``, ``exp``, ``ct`` (the sealed session) and ``iss``/``aud`` when
configured. ``ct`` is AES-256-GCM under the session's subkey, with the
``jti`` in the associated data, so it opens only inside its own token.
"""

from __future__ import annotations

import re
import typing as t

from ..errors import SessionTooLarge
from ..session import HybridSessionData
from ..session import SessionState
from ..session import new_sid
from ..tokens import TokenCodec
from ..tokens import b64decode
from ..tokens import b64encode
from .backend import RedisBackend
from .base import Context
from .base import Issue
from .redis import ServerStore

TOKEN_FORMAT: t.Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class JwtStore:
    """Keeps sessions in the token; Redis (when configured) holds only revocations."""

    def __init__(
        self, codec: TokenCodec, backend: RedisBackend | None, server: ServerStore
    ) -> None:
        self.codec = codec
        self.backend = backend
        #: Opens sessions that moved to Redis after this token was issued.
        self.server = server

    def load(self, ctx: Context, state: SessionState, credential: str) -> dict[str, t.Any] | None:
        claims, current_key = self.codec.decode(ctx.ring, credential, ctx.now)
        sid, jti = claims["sid"], claims["jti"]
        plaintext, current_ring = ctx.ring.open(
            sid, b"jwt|" + jti.encode(), b64decode(claims["ct"])
        )
        envelope = ctx.serializer.loads(plaintext)
        created, data = envelope["c"], envelope["d"]
        if not isinstance(created, int) or not isinstance(data, dict):
            raise ValueError("bad envelope")
        state.credential_kind = "jwt"
        state.issued_at, state.expires_at = claims["iat"], claims["exp"]
        if self.backend is not None:
            # The revocation check, one round trip, a guest's token too. If
            # the session has moved to Redis since this token was issued,
            # the token opens the moved session, never its own stale copy.
            [reply] = self.backend.run([self.backend.read(sid, None, ctx.now_ms, ctx.idle_ms)])
            if reply == -1:
                return None
            if isinstance(reply, list):
                return self.server.fill(ctx, state, sid, reply)
        state.sid = sid
        state.origin = "jwt"
        state.created = created
        state.rekey = not (current_key and current_ring)
        return data

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        state = session._state
        backend = self.backend
        data = dict(session)
        ops = []
        if not data:
            if state.origin == "none":
                return Issue(None) if session.modified and state.credential else None
            if backend is not None:
                # Emptied: no token of this session opens again.
                backend.run([backend.end(session.sid, ctx.mark_ttl_ms(state.created))])
            return Issue(None)

        if state.origin == "none":
            state.created = int(ctx.now)
        if state.rotate and state.origin != "none":
            if backend is not None:
                ops.append(backend.end(session.sid, ctx.mark_ttl_ms(state.created)))
            state.sid = new_sid()
        elif state.origin == "server" and backend is not None and state.token_hash:
            # The session moves into the token: drop the Redis copy.
            ops.append(backend.drop(session.sid, state.token_hash))

        if ctx.expiry(state.created) <= int(ctx.now):
            return Issue(None)  # past its absolute timeout: the session is over
        idle = ctx.settings.idle_timeout
        renew = bool(idle) and ctx.now - state.issued_at >= t.cast(int, idle) / 2
        reissue = (
            session.modified
            or state.rotate
            or state.rekey
            or renew
            or state.origin != "jwt"
            or state.credential_kind != "jwt"
        )
        if not reissue:
            if session.permanent and ctx.refresh_each_request:
                return Issue(state.credential, state.expires_at, renewed=False)
            return None

        token, expires = self.encode(ctx, session.sid, state.created, data)
        size = ctx.cookie_size(token, expires)
        if size > ctx.settings.max_cookie_bytes:
            raise SessionTooLarge(size, ctx.settings.max_cookie_bytes)
        if ops and backend is not None:
            backend.run(ops)
        return Issue(token, expires)

    def encode(
        self, ctx: Context, sid: str, created: int, data: dict[str, t.Any]
    ) -> tuple[str, int]:
        """A new token for the session: same sid, fresh ``jti``, ``exp`` from the timeouts."""
        jti = new_sid()
        plaintext = ctx.serializer.dump_bytes({"c": created, "d": data})
        sealed = ctx.ring.seal(sid, b"jwt|" + jti.encode(), plaintext)
        expires = ctx.expiry(created)
        claims = {
            "sid": sid,
            "jti": jti,
            "iat": int(ctx.now),
            "exp": expires,
            "ct": b64encode(sealed),
        }
        return self.codec.encode(ctx.ring, claims), expires
