"""Revocation: whether a presented credential may still open its session.

Fail closed. A logged-in credential passes only while its proofs are in Redis:
its sid's user mark and its user's generation, equal to the one it carries.
Logout, ``revoke(sid)`` and a login rotation delete the mark; ``revoke_user``
replaces the generation; a flush, a restart or an eviction loses them. Any of
these refuses the credential: users sign in again, and nothing revoked comes
back.

A guest's credential has no proof to lose, so its sid's revocation record (one
of 64 per prefix, see :mod:`..keys`) must still hold the epoch the credential
carries: a record that is gone begins a new epoch, which refuses every older
credential of its sids, and with it every revocation mark it held. The record
is one key, so its marks and its epoch are lost together or not at all.

:class:`Revocation` runs the checks and keeps each record's epoch for the
tokens this process mints; :data:`NO_REVOCATION` is jwt mode with revocation
off, where every credential stands on its signature alone.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import typing as t

import redis
from redis.cluster import RedisCluster

from ..keys import BASE64URL
from ..keys import record_of
from .redis_client import COPY
from .redis_client import NO_COPY
from .redis_client import REFUSED
from .redis_client import STORE_ERRORS
from .redis_client import RedisBackend
from .view import RevocationView


class _Forgets(t.Protocol):
    """What a revocation tells the naming key (:class:`.naming.NamingKey`)."""

    def forget(self) -> None: ...


logger = logging.getLogger("flask_hybridsession")


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What the checks of a credential found."""

    #: :data:`REFUSED`, :data:`NO_COPY` or :data:`COPY`.
    status: int
    #: The epoch of the sid's record (0: not read).
    epoch: int
    #: The Redis copy's fields, flat (field, value, ...), when status is COPY.
    fields: list[bytes]


#: What the view answers for a token it holds: good, no copy in Redis.
_GOOD: t.Final = Verdict(NO_COPY, 0, [])


def verdict(replies: list[list[t.Any]]) -> Verdict:
    """Fold the replies of :meth:`RedisBackend.check`'s ops into one answer."""
    status, epoch, *fields = replies[0]
    for reply in replies[1:]:
        # EPOCH replies [status, epoch]; USER_CHECK [status].
        if reply[0] == REFUSED:
            status = REFUSED
        if len(reply) > 1:
            epoch = reply[1]
    return Verdict(int(status), int(epoch), fields)


class Revocation:
    """The revocation checks of one app, against its Redis."""

    enabled: t.Literal[True] = True

    def __init__(
        self, backend: RedisBackend, naming: _Forgets, view: RevocationView | None = None
    ) -> None:
        self.backend = backend
        self.naming = naming
        #: The tokens this process checked lately (None: every token is checked).
        self.view = view
        #: The epoch of each record, as this process last saw it.
        self._epochs: dict[int, int] = {}
        #: How many times this process saw a record begin a new epoch (Redis lost it).
        self.losses = 0
        self._lock = threading.Lock()

    def check(
        self,
        sid: str,
        *,
        expect: t.Callable[[], bytes],
        now_ms: int,
        idle_ms: int,
        epoch: int | None = None,
        tag: str | None = None,
        generation: int | None = None,
        server: bool = False,
    ) -> Verdict:
        """Check a credential of ``sid``; one round trip (two for a server
        session of a user on a cluster, whose user is known only from its copy).

        A token (not ``server``) that the view holds as good costs nothing.

        :param expect: the hash a Redis copy of the session must carry; made
            only when Redis is asked.

        :raises redis.RedisError: Redis is unavailable.
        """
        view = None if server else self.view
        proofs = (sid, epoch, tag, generation)
        if view is not None and view.holds(*proofs, now_ms / 1000):
            return _GOOD
        seen = view.seen() if view is not None else 0
        backend = self.backend
        found = verdict(
            backend.run(
                backend.check(
                    sid,
                    expect=expect(),
                    now_ms=now_ms,
                    idle_ms=idle_ms,
                    epoch=epoch,
                    tag=tag,
                    generation=generation,
                    server=server,
                )
            )
        )
        if found.status == COPY and not backend.single_slot:
            found = self._copy_proofs(sid, found, now_ms)
        self.learn(sid, found.epoch)
        if view is not None and found.status == NO_COPY:
            view.keep(seen, *proofs, now_ms / 1000)
        return found

    def _copy_proofs(self, sid: str, found: Verdict, now_ms: int) -> Verdict:
        """On a cluster: the checks the copy's own epoch and user need (CHECK ran
        without the record and the user's keys, which live in other slots)."""
        fields = dict(zip(found.fields[::2], found.fields[1::2], strict=True))
        refused = Verdict(REFUSED, found.epoch, [])
        if _int(fields.get(b"e")) != found.epoch:
            return refused
        tag, generation = fields.get(b"u"), fields.get(b"g")
        if tag:
            backend = self.backend
            [[status]] = backend.run(
                [backend.user_check(tag.decode(), sid, now_ms, _int(generation))]
            )
            if status == REFUSED:
                return refused
        return found

    def epoch_for(self, sid: str) -> int:
        """The epoch a new credential of ``sid`` carries.

        The first time this process needs one, every record's epoch comes in
        one round trip (:meth:`prefetch`).

        :raises redis.RedisError: Redis is unavailable.
        """
        epoch = self._epochs.get(record_of(sid))
        if epoch is None:
            self.prefetch()
            epoch = self._epochs[record_of(sid)]
        return epoch

    def prefetch(self) -> None:
        """Read (or begin) the epoch of every record, in one round trip.

        :raises redis.RedisError: Redis is unavailable.
        """
        backend = self.backend
        # One sid per record: the first character picks it.
        sids = [character * 22 for character in BASE64URL]
        replies = backend.run([backend.epoch(sid) for sid in sids])
        for sid, (_, epoch) in zip(sids, replies, strict=True):
            self.learn(sid, int(epoch))

    def forget_epochs(self) -> None:
        """Read every record's epoch again at next use (new ones began)."""
        with self._lock:
            self._epochs.clear()

    def learn(self, sid: str, epoch: int) -> None:
        """Keep the epoch a reply showed; a changed one means Redis lost the record."""
        if not epoch:
            return
        number = record_of(sid)
        with self._lock:
            known = self._epochs.get(number)
            self._epochs[number] = epoch
            if known is None or known == epoch:
                return
            self.losses += 1
            first = self.losses == 1
        if self.view is not None:
            self.view.drop("*")
        # Whatever lost the record may have lost the naming key: read it again.
        self.naming.forget()
        if first:
            logger.error(
                "Redis lost session data (a revocation record began a new epoch): every"
                " older session of its sids is refused and its users sign in again. See"
                " the deployment guide for the Redis settings sessions need."
            )


class NoRevocation:
    """jwt mode with ``HYBRID_SESSION_REVOCATION = False``: no Redis, no checks."""

    enabled: t.Literal[False] = False
    view: t.Final = None
    losses: t.Final = 0


#: The one :class:`NoRevocation`.
NO_REVOCATION: t.Final = NoRevocation()


def _int(raw: bytes | None) -> int:
    try:
        return int(raw or b"0")
    except ValueError:
        return 0


def durability(client: t.Any) -> dict[str, t.Any]:
    """What Redis may lose: eviction (``maxmemory``, its policy) and persistence.

    From ``INFO`` (no ``CONFIG`` needed). ``evicting`` is True where Redis may
    evict keys of ours: a ``maxmemory`` and a policy other than ``noeviction``.

    :raises redis.RedisError: Redis is unavailable.
    """
    info: dict[str, t.Any] = {}
    for section in ("memory", "persistence", "replication"):
        # A cluster answers per primary: any node that may evict counts.
        if isinstance(client, RedisCluster):
            replies = list(client.info(section, target_nodes=RedisCluster.PRIMARIES).values())
        else:
            replies = [client.info(section)]
        for value in replies:
            for key, item in value.items():
                if key == "maxmemory" and item:
                    info[key] = max(int(item), int(info.get(key, 0)))
                elif key == "maxmemory_policy" and info.get(key, "noeviction") == "noeviction":
                    info[key] = item
                elif key in ("aof_enabled", "connected_slaves"):
                    info.setdefault(key, item)
    maxmemory = int(info.get("maxmemory", 0))
    policy = str(info.get("maxmemory_policy", "noeviction"))
    return {
        "maxmemory": maxmemory,
        "maxmemory_policy": policy,
        "evicting": maxmemory > 0 and policy != "noeviction",
        "aof_enabled": bool(int(info.get("aof_enabled", 0) or 0)),
        "rdb_save_points": _save_points(client),
        "replicas": int(info.get("connected_slaves", 0) or 0),
    }


def _save_points(client: t.Any) -> str | None:
    """Redis's RDB ``save`` schedule ("" for none), or None where it may not be read.

    INFO does not show it: ``CONFIG GET save``, which an ACL user, a managed
    Redis or a Cluster (one answer per node) may not give.
    """
    if isinstance(client, RedisCluster):
        return None
    try:
        found = client.config_get("save")
    except redis.ResponseError:
        return None
    value = found.get("save") if isinstance(found, dict) else None
    return value.decode() if isinstance(value, bytes) else value


def warn_if_evicting(client: t.Any) -> dict[str, t.Any] | None:
    """Log one WARNING when Redis may evict session keys; its settings, or None if down."""
    try:
        found = durability(client)
    except STORE_ERRORS as exc:
        logger.info("Redis settings not read at start (%s)", type(exc).__name__)
        return None
    if found["evicting"]:
        logger.warning(
            "Redis may evict keys (maxmemory %d bytes, maxmemory-policy %s): sessions"
            " may end early and their users sign in again (never the other way round)."
            " Give sessions a Redis with maxmemory-policy noeviction, or enough"
            " maxmemory; see the deployment guide.",
            found["maxmemory"],
            found["maxmemory_policy"],
        )
    return found
