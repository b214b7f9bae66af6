"""``server`` mode: the client holds an opaque token, the session lives in a Redis hash.

The token is ``v1.`` and the base64url of the sid's 16 bytes followed by 32
random bytes. Redis keeps only the token's SHA-256, so a dump yields no usable
credential. Each session key is its own hash field, named by a keyed hash
under the session's salt and sealed with its real name inside, so concurrent
requests that change different keys keep each other's writes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import typing as t

from ..crypto import field_name
from ..crypto import token_hash
from ..errors import HybridSessionError
from ..session import HybridSessionData
from ..session import SessionState
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
from .redis_client import Op
from .redis_client import RedisBackend

TOKEN_FORMAT: t.Final = re.compile(r"v1\.[A-Za-z0-9_-]{64}")
_META: t.Final = b"m"
_TOKEN: t.Final = b"t"
# In clear, for the checks in Redis: the epoch of the sid's record, and the
# user tag and generation of a logged-in session (a tag names no one).
_EPOCH: t.Final = b"e"
_USER: t.Final = b"u"
_GENERATION: t.Final = b"g"
FIELD_NAME_BYTES: t.Final = 16


class GarbageEntry(Exception):
    """A Redis entry that is not a session we wrote."""


def new_token(sid: str) -> str:
    """A server token for ``sid``: 256 random bits behind the sid."""
    return "v1." + b64encode(b64decode(sid) + os.urandom(32))


def token_for(ctx: Context, sid: str, jti: str | None) -> str:
    """The server token that carries ``sid`` from now on.

    A session arriving as a JWT (mode switch, a move into Redis) gets a token
    derived from that JWT's ``jti``: every parallel request that brings the
    same JWT issues the same token, so none of them undoes another's. A
    rotation (login, ``regenerate()``) or a new session gets a random one.
    """
    if jti is None:
        return new_token(sid)
    secret = hmac.new(ctx.ring.token_key, f"{sid}|{jti}".encode(), hashlib.sha256).digest()
    return "v1." + b64encode(b64decode(sid) + secret)


def sid_of(token: str) -> str:
    """The sid inside a server token whose format was checked."""
    return b64encode(b64decode(token[3:])[:16])


def _seal_field(ctx: Context, sid: str, salt: bytes, key: str, raw: bytes) -> tuple[bytes, bytes]:
    name = key.encode("utf-8", "surrogatepass")
    if len(name) > 0xFFFF:
        raise HybridSessionError("A session key is longer than 65535 bytes.")
    field = field_name(salt, key)
    plaintext = len(name).to_bytes(2, "big") + name + raw
    return field, ctx.ring.seal(sid, b"field|" + field, plaintext)


class ServerStore:
    """Keeps sessions in Redis hashes, one sealed field per session key."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend

    def load(self, ctx: Context, state: SessionState, credential: str) -> dict[str, t.Any] | None:
        revocation = ctx.revocation
        if not revocation.enabled:
            # jwt mode with revocation off: no Redis, so no server sessions.
            return None
        sid = sid_of(credential)
        state.presented.kind = "server"
        found = revocation.check(
            sid,
            expect=lambda: token_hash(credential),
            now_ms=ctx.now_ms,
            idle_ms=ctx.idle_ms,
            server=True,
        )
        if found.status != COPY:
            return None
        return self.fill(ctx, state, sid, found.fields)

    def fill(
        self, ctx: Context, state: SessionState, sid: str, flat: list[bytes]
    ) -> dict[str, t.Any]:
        """Open the hash fields READ returned.

        :raises GarbageEntry: (or any parse error) the entry is not ours.
        """
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        plaintext, current = ctx.ring.open(sid, b"meta", fields[_META])
        meta = ctx.serializer.loads(plaintext)
        salt = meta["s"]
        if not isinstance(salt, bytes):
            raise GarbageEntry("bad metadata")
        apply_meta(state, meta)
        data: dict[str, t.Any] = {}
        for field, blob in fields.items():
            if len(field) != FIELD_NAME_BYTES:
                continue
            plaintext, current_field = ctx.ring.open(sid, b"field|" + field, blob)
            size = int.from_bytes(plaintext[:2], "big")
            key = plaintext[2 : 2 + size].decode("utf-8", "surrogatepass")
            if field_name(salt, key) != field:
                raise GarbageEntry("field name does not match its key")
            raw = plaintext[2 + size :]
            data[key] = ctx.serializer.loads(raw)
            state.stored.loaded[key] = raw
            if not current_field:
                state.stored.stale.add(key)
        if state.user.id is not None:
            # The generation the checks in Redis hold the copy to (a login on
            # one server writes it after the sealed metadata was made).
            state.user.generation = int(fields.get(_GENERATION) or 0)
        state.sid = sid
        state.stored.origin = "server"
        state.stored.salt = salt
        state.stored.token_hash = fields[_TOKEN]
        state.stored.rekey = state.stored.rekey or not current
        return data

    def _meta(self, ctx: Context, sid: str, state: SessionState) -> bytes:
        return ctx.ring.seal(
            sid,
            b"meta",
            ctx.serializer.dump_bytes({**meta_of(state), "s": t.cast(bytes, state.stored.salt)}),
        )

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        backend = self.backend
        state = session._state
        data = dict(session)
        if not data:
            if state.stored.origin is None:
                return Issue(None) if session.modified and state.presented.value else None
            # Emptied: the session ends here, and no token of it opens again.
            ops = end_ops(ctx, state)
            if ops:
                backend.run(ops)
            state.due.ended = True
            return Issue(None)

        arrived = state.stored.origin
        ops = begin_save(ctx, session, int(ctx.now))
        expires = ctx.expiry(state.stored.created)
        if expires <= int(ctx.now):
            return Issue(None)  # past its absolute timeout: the session is over
        if arrived != "server" or state.due.rotate:
            return self._create(ctx, backend, session, data, ops, expires)
        return self._update(ctx, backend, session, data, expires)

    def _create(
        self,
        ctx: Context,
        backend: RedisBackend,
        session: HybridSessionData,
        data: dict[str, t.Any],
        ops: list[Op],
        expires: int,
    ) -> Issue | None:
        """Write a new hash: a new session, a rotated id, or a session arriving
        as a JWT (mode switch) that Redis does not hold yet. ``ops`` end the old sid."""
        state = session._state
        sid = session.sid
        state.stored.salt = os.urandom(16)
        fresh_token = token_for(ctx, sid, None if state.due.rotate else state.presented.jti)
        indexing = index_ops(ctx, state)
        ended_old = bool(ops)
        login = indexing and state.due.login is not None
        if login and not backend.single_slot:
            # A login: the copy carries the user's generation, which only
            # the index op tells; on a cluster it is in another slot, so the
            # write waits for it. One trip more, at logins on a cluster only.
            replies = backend.run([*ops, *indexing])
            if ended_old and self._ended_meanwhile(ctx, backend, state, replies[0]):
                return None
            state.user.generation = settle_index(ctx, replies[-1])
            ops, indexing, ended_old = [], [], False
        fields = {_META: self._meta(ctx, sid, state), **self._proofs(ctx, sid, state)}
        fields.update(
            _seal_field(ctx, sid, state.stored.salt, key, ctx.serializer.dump_bytes(value))
            for key, value in data.items()
        )
        ops.append(
            backend.write(
                sid,
                expect=None,
                token_hash=token_hash(fresh_token),
                now_ms=ctx.now_ms,
                deadline_ms=ctx.deadline(state.stored.created) * 1000,
                idle_ms=ctx.idle_ms,
                fields=fields,
                # On one server the write copies the generation that the
                # index op, sent before it, settled.
                generation_of=state.user.tag if login and indexing else None,
            )
        )
        written = len(ops) - 1
        if login and indexing:
            ops[written:written] = indexing
            written += len(indexing)
        else:
            ops += indexing
        replies = backend.run(ops)
        if ended_old and self._ended_meanwhile(ctx, backend, state, replies[0]):
            return None
        if replies[written][0] != 1:
            # Revoked, or a parallel request of the same session moved it
            # first: keep the credential the client has.
            return None
        if login and indexing:
            state.user.generation = settle_index(ctx, replies[written - 1])
        elif indexing:
            settle_index(ctx, replies[-1])
        return Issue(fresh_token, expires)

    @staticmethod
    def _ended_meanwhile(
        ctx: Context, backend: RedisBackend, state: SessionState, ended: list[t.Any]
    ) -> bool:
        """Whether the old sid of a rotation was ended by a parallel request.

        A concurrent logout: do not bring the session back under a new id
        either (a logout's new session is a guest's: nothing to bring back).
        """
        if ended[0] or state.due.logout:
            return False
        backend.run(end_ops(ctx, state))
        return True

    @staticmethod
    def _proofs(ctx: Context, sid: str, state: SessionState) -> dict[bytes, bytes]:
        """The clear fields the checks in Redis read: epoch, user tag, generation."""
        proofs = {_EPOCH: str(ctx.revocation.epoch_for(sid)).encode()}  # type: ignore[union-attr]
        if state.user.tag is not None:
            proofs[_USER] = state.user.tag.encode()
            proofs[_GENERATION] = str(state.user.generation).encode()
        return proofs

    def _update(
        self,
        ctx: Context,
        backend: RedisBackend,
        session: HybridSessionData,
        data: dict[str, t.Any],
        expires: int,
    ) -> Issue | None:
        """Update the hash in place: only what changed."""
        state = session._state
        sid = session.sid
        salt = t.cast(bytes, state.stored.salt)  # set by fill()
        # A client that came with a JWT gets the server token; a parallel
        # request with the same JWT may have stored it already.
        token = (
            None if state.presented.kind == "server" else token_for(ctx, sid, state.presented.jti)
        )
        new_hash = token_hash(token) if token else None
        if new_hash == state.stored.token_hash:
            new_hash = None
        changed: dict[bytes, bytes] = {}
        if session.modified or state.stored.stale:
            for key, value in data.items():
                raw = ctx.serializer.dump_bytes(value)
                if (
                    key in state.due.changed
                    or key in state.stored.stale
                    or state.stored.loaded.get(key) != raw
                ):
                    field, blob = _seal_field(ctx, sid, salt, key, raw)
                    changed[field] = blob
        deleted = [field_name(salt, key) for key in state.stored.loaded.keys() - data.keys()]
        if state.stored.rekey or state.stored.meta_changed:
            changed[_META] = self._meta(ctx, sid, state)
        if not (changed or deleted or new_hash):
            if token:
                return Issue(token, expires)
            return self._untouched(ctx, session, expires)
        [written] = backend.run(
            [
                backend.write(
                    sid,
                    expect=state.stored.token_hash,
                    token_hash=new_hash,
                    now_ms=ctx.now_ms,
                    deadline_ms=ctx.deadline(state.stored.created) * 1000,
                    idle_ms=ctx.idle_ms,
                    fields=changed,
                    deleted=deleted,
                )
            ]
        )
        if written[0] != 1:
            # Revoked or replaced while this request ran: write nothing back.
            return None
        if token:
            return Issue(token, expires)
        return Issue(state.presented.value, expires, renewed=False)

    def _untouched(self, ctx: Context, session: HybridSessionData, expires: int) -> Issue | None:
        state = session._state
        if session.modified or (session.permanent and ctx.refresh_each_request):
            return Issue(state.presented.value, expires, renewed=False)
        return None
