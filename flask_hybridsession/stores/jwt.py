"""``jwt`` mode: the whole session travels in a signed JWT with an encrypted payload.

Claims: ``sid`` (stable for the session's life), ``jti`` (fresh per token),
``iat``, ``exp``, ``kind`` (always ``"session"``), ``ct`` (the sealed
session) and ``iss``/``aud`` when configured. ``ct`` is AES-256-GCM under
the session's subkey, with the ``jti`` in the associated data, so it opens
only inside its own token.
"""

from __future__ import annotations

import logging
import re
import typing as t

from ..crypto import OVERHEAD
from ..crypto import token_hash
from ..errors import SessionTooLarge
from ..session import HybridSessionData
from ..session import SessionState
from ..session import new_sid
from ..tokens import TOKEN_KIND
from ..tokens import TokenCodec
from ..tokens import Verified
from ..tokens import VerifiedTokens
from ..tokens import b64decode
from ..tokens import b64encode
from .base import Context
from .base import Issue
from .lifecycle import apply_meta
from .lifecycle import begin_save
from .lifecycle import end_ops
from .lifecycle import index_ops
from .lifecycle import meta_of
from .lifecycle import settle_index
from .redis_client import COPY
from .redis_client import REFUSED
from .redis_client import STORE_ERRORS
from .redis_client import RedisBackend
from .server import ServerStore
from .server import token_for

security_log = logging.getLogger("flask_hybridsession.security")

TOKEN_FORMAT: t.Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: A ``jti`` as long as any (sizing a token needs its length only).
_JTI_SHAPE: t.Final = "A" * len(new_sid())
#: A generation as long as any, to size a token before Redis says which.
LONGEST_GENERATION: t.Final = 2**53 - 1


class JwtStore:
    """Keeps sessions in the token; Redis (when configured) holds only revocations."""

    def __init__(
        self,
        codec: TokenCodec,
        backend: RedisBackend,
        server: ServerStore,
        verified: VerifiedTokens,
    ) -> None:
        self.codec = codec
        self.backend = backend
        #: Tokens verified or issued lately: a hit skips PyJWT and AES-GCM.
        self.verified = verified
        #: Opens sessions that moved to Redis after this token was issued.
        self.server = server

    def load(self, ctx: Context, state: SessionState, credential: str) -> dict[str, t.Any] | None:
        verified = self.verified.get(credential)
        remembered = verified is not None and verified.ring is ctx.ring
        if verified is not None and remembered:
            claims = verified.claims
            self.codec.check_times(claims, ctx.now)
            sid, jti = claims["sid"], claims["jti"]
        else:
            claims, current_key = self.codec.decode(ctx.ring, credential, ctx.now)
            sid, jti = claims["sid"], claims["jti"]
            plaintext, current_ring = ctx.ring.open(
                sid, b"jwt|" + jti.encode(), b64decode(claims["ct"])
            )
            verified = Verified(ctx.ring, claims, plaintext, current_key and current_ring)
        envelope = ctx.serializer.loads(verified.plaintext)
        data = envelope["d"]
        if not isinstance(data, dict):
            raise ValueError("bad envelope")
        apply_meta(state, envelope)
        if not remembered:
            self.verified.put(credential, verified)
        state.presented.kind = "jwt"
        state.presented.jti = jti
        state.presented.issued_at, state.presented.expires_at = claims["iat"], claims["exp"]
        revocation = ctx.revocation
        if revocation.enabled:
            # The revocation checks, in one round trip, a guest's token too.
            # If the session has moved to Redis since, only the token that
            # moved it opens the copy; an older one opens nothing.
            try:
                found = revocation.check(
                    sid,
                    expect=lambda: token_hash(token_for(ctx, sid, jti)),
                    now_ms=ctx.now_ms,
                    idle_ms=ctx.idle_ms,
                    epoch=state.stored.epoch,
                    tag=state.user.tag,
                    generation=state.user.generation if state.user.tag else None,
                )
            except STORE_ERRORS:
                if not ctx.settings.fail_open_jwt:
                    raise
                # The explicit opt-in: serve the token unchecked, and say so.
                security_log.warning(
                    "Redis unavailable: serving a jwt session WITHOUT its revocation check"
                    " (HYBRID_SESSION_FAIL_OPEN_JWT is on)"
                )
                found = None
            if found is not None:
                if found.status == REFUSED:
                    return None
                if found.status == COPY:
                    return self.server.fill(ctx, state, sid, found.fields)
        state.sid = sid
        state.stored.origin = "jwt"
        state.stored.rekey = not verified.current
        return data

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        state = session._state
        backend = self.backend
        data = dict(session)
        now = int(ctx.now)
        if not data:
            if state.stored.origin is None:
                return Issue(None) if session.modified and state.presented.value else None
            # Emptied: no token of this session opens again.
            ops = end_ops(ctx, state)
            if ops:
                backend.run(ops)
            state.due.ended = True
            return Issue(None)

        moved = state.stored.origin == "server"
        ops = begin_save(ctx, session, now)
        if ctx.expiry(state.stored.created) <= now:
            return Issue(None)  # past its absolute timeout: the session is over
        idle = ctx.settings.idle_timeout
        renew = bool(idle) and ctx.now - state.presented.issued_at >= t.cast(int, idle) / 2
        reissue = (
            session.modified
            or state.due.rotate
            or state.stored.rekey
            or renew
            or state.stored.origin != "jwt"
            or state.presented.kind != "jwt"
        )
        if not reissue:
            if session.permanent and ctx.refresh_each_request:
                return Issue(state.presented.value, state.presented.expires_at, renewed=False)
            return None

        # Logins, rotations and moves (re)index the session under its user.
        indexing = index_ops(ctx, state) if state.due.rotate or moved else []
        minted = None
        if indexing:
            # The token carries the generation the index op returns: size it,
            # unsigned, with a generation as long as any, and mint it after.
            state.user.generation = LONGEST_GENERATION
            size, expires = self._unsigned_size(ctx, session.sid, state, data)
        else:
            minted = self._mint(ctx, session.sid, state, data)
            expires = minted[1].claims["exp"]
            size = ctx.cookie_size(minted[0], expires)
        if size > ctx.settings.max_cookie_bytes:
            if moved and not (session.modified or state.due.rotate):
                # Unchanged and too big for a token (a server -> jwt switch):
                # it stays in Redis under the credential the client has.
                return None
            raise SessionTooLarge(size, ctx.settings.max_cookie_bytes)
        if moved and not state.due.rotate and state.stored.token_hash:
            # The session moves into the token: drop the Redis copy.
            ops.append(backend.drop(session.sid, state.stored.token_hash))
        generation_at = len(ops) + 1
        ops += indexing
        replies = backend.run(ops) if ops else []
        if indexing:
            state.user.generation = settle_index(ctx, replies[generation_at])
        token, verified = minted or self._mint(ctx, session.sid, state, data)
        # The client brings this token back next: it opens without PyJWT.
        self.verified.put(token, verified)
        return Issue(token, expires)

    def fits(self, ctx: Context, session: HybridSessionData, limit: float) -> bool:
        """Whether the session's credential as a token would take at most ``limit`` bytes.

        ``auto`` decides by it at each write.
        """
        state = session._state
        trial = state.copy()
        trial.stored.created = state.stored.created or int(ctx.now)
        if trial.user.id is not None or trial.due.login is not None:
            trial.user.generation = LONGEST_GENERATION
        if trial.due.login is not None:
            trial.user.id, trial.user.tag = trial.due.login, trial.due.login_tag
        data = dict(session)
        plaintext = _plaintext(ctx, trial, data, _epoch(ctx, session.sid))
        # ``ct`` is base64 of the sealed plaintext, inside the base64 payload:
        # the token is longer than 16/9 of the plaintext whatever else it
        # holds, so a session far over the budget is not sealed and signed.
        if len(plaintext) * 16 / 9 > limit:
            return False
        size, _ = self._unsigned_size(ctx, session.sid, trial, data, plaintext)
        return size <= limit

    def _unsigned_size(
        self,
        ctx: Context,
        sid: str,
        state: SessionState,
        data: dict[str, t.Any],
        plaintext: bytes | None = None,
    ) -> tuple[int, int]:
        """The cookie size and ``exp`` of the token :meth:`_mint` would make, unsealed and unsigned.

        Every credential of ours is base64url and dots, so the cookie's length
        depends on the token's length only, and that on the plaintext's.
        """
        if plaintext is None:
            plaintext = _plaintext(ctx, state, data, _epoch(ctx, sid))
        expires = ctx.expiry(state.stored.created)
        claims = self._claims(ctx, sid, _JTI_SHAPE, expires, b"\0" * (len(plaintext) + OVERHEAD))
        length = self.codec.length(ctx.ring, claims)
        return ctx.cookie_size("A" * length, expires), expires

    def _mint(
        self,
        ctx: Context,
        sid: str,
        state: SessionState,
        data: dict[str, t.Any],
        plaintext: bytes | None = None,
    ) -> tuple[str, Verified]:
        """A new token for the session: same sid, fresh ``jti``, ``exp`` from the timeouts."""
        jti = new_sid()
        if plaintext is None:
            plaintext = _plaintext(ctx, state, data, _epoch(ctx, sid))
        sealed = ctx.ring.seal(sid, b"jwt|" + jti.encode(), plaintext)
        claims = self._claims(ctx, sid, jti, ctx.expiry(state.stored.created), sealed)
        token = self.codec.encode(ctx.ring, claims)
        return token, Verified(ctx.ring, claims, plaintext, True)

    @staticmethod
    def _claims(ctx: Context, sid: str, jti: str, expires: int, sealed: bytes) -> dict[str, t.Any]:
        return {
            "sid": sid,
            "jti": jti,
            "iat": int(ctx.now),
            "exp": expires,
            "kind": TOKEN_KIND,
            "ct": b64encode(sealed),
        }


def _epoch(ctx: Context, sid: str) -> int | None:
    """The epoch a token of ``sid`` carries (None without revocation)."""
    revocation = ctx.revocation
    return revocation.epoch_for(sid) if revocation.enabled else None


def _plaintext(
    ctx: Context, state: SessionState, data: dict[str, t.Any], epoch: int | None
) -> bytes:
    """What a token seals: the session's metadata, its record's epoch and its data."""
    meta = meta_of(state)
    if epoch is not None:
        meta["e"] = epoch
    return ctx.serializer.dump_bytes({**meta, "d": data})
