"""The Redis client: how it is built, and how a request's commands reach it in one trip."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import secrets
import typing as t

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from redis.exceptions import RedisClusterException

from ..keys import KeyNames
from . import scripts
from . import view
from .redis_wire import send_one
from .replication import Replication

logger = logging.getLogger("flask_hybridsession")

#: What "Redis is unavailable" looks like: redis-py's errors, and its cluster
#: client's own (a slot not covered, a cluster that cannot be reached).
STORE_ERRORS: t.Final = (redis.RedisError, RedisClusterException)

#: A check's status: refused (revoked, or a proof missing), no copy in Redis,
#: or the copy's fields follow.
REFUSED: t.Final = -1
NO_COPY: t.Final = 0
COPY: t.Final = 1

#: Nonces of script calls: each reply must echo its own (see :mod:`.scripts`).
_nonces = itertools.count(1)


def _evalsha(op: Op, nonce: bytes) -> tuple[t.Any, ...]:
    """The ``EVALSHA`` command of ``op``, its nonce first among its arguments."""
    return ("EVALSHA", op.script.sha, len(op.keys), *op.keys, nonce, *op.args)


@dataclasses.dataclass(frozen=True, slots=True)
class Op:
    """One script call of a round trip."""

    script: scripts.Script
    keys: tuple[str, ...]
    args: tuple[bytes | str | int, ...]
    #: What a revocation ends, for this process's views (see :mod:`.view`).
    topic: str = ""


class RedisBackend:
    """Runs the Lua scripts of :mod:`.scripts`, several per round trip."""

    def __init__(
        self,
        client: redis.Redis,
        names: KeyNames,
        *,
        wait_replicas: int | t.Literal["auto"] = 0,
        wait_timeout_ms: int = 500,
        built_here: bool = False,
    ) -> None:
        self.client = client
        self.names = names
        self.replication = Replication(client, names, wait_replicas, wait_timeout_ms)
        #: A single op goes without a pipeline (not on a cluster, whose
        #: pipeline is what routes a script call by its keys).
        self._direct = not isinstance(client, RedisCluster)
        #: A client we built sends a single op without ``execute_command``
        #: (:mod:`.redis_wire`); a client the app hands in is used only
        #: through its public API, so its instrumentation sees every call.
        self._lean = self._direct and built_here and getattr(client, "connection", None) is None

    @property
    def single_slot(self) -> bool:
        """Whether one script may touch keys of any slot (one server, Sentinel; not a cluster)."""
        return self._direct

    def run(self, ops: t.Sequence[Op]) -> list[list[t.Any]]:
        """Send ``ops`` in one pipeline (one round trip) and return their replies.

        Each reply is the script's list without its nonce. Scripts go by
        ``EVALSHA``; a server that lost them (first use, restart, ``SCRIPT
        FLUSH``) gets all of them loaded in one trip and only the refused calls
        sent again.

        :raises redis.RedisError: Redis is unreachable, timed out or failed, or
            a reply was not the one of its call (the connections are dropped).
        """
        topics = [op.topic for op in ops if op.topic]
        if topics:
            # Gone from this process's views before Redis is asked...
            view.drop_everywhere(self.names.view, topics)
        try:
            return self._run(ops)
        finally:
            if topics:
                # ...and again once it has answered: a check of this process
                # that Redis ran just before the revocation may have been
                # kept meanwhile, before the message comes back.
                view.drop_everywhere(self.names.view, topics)

    def _run(self, ops: t.Sequence[Op]) -> list[list[t.Any]]:
        nonces = [str(next(_nonces)).encode() for _ in ops]
        replies = self._send(ops, nonces)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # Load every script at once, so the next op of another kind does
            # not pay the same extra trips.
            if isinstance(self.client, RedisCluster):
                # A cluster loads each script on every primary itself.
                for script in scripts.ALL:
                    self.client.script_load(script.source)
            else:
                loader = self.client.pipeline(transaction=False)
                for script in scripts.ALL:
                    loader.script_load(script.source)
                loader.execute()
            again = self._send([ops[i] for i in missing], [nonces[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        for nonce, reply in zip(nonces, replies, strict=True):
            if not isinstance(reply, list) or not reply or reply[0] != nonce:
                # Another call's reply, or none of ours: the connection is
                # out of step with its requests.
                self._out_of_step()
        return [reply[1:] for reply in replies]

    def _send(self, ops: t.Sequence[Op], nonces: list[bytes]) -> list[t.Any]:
        revoking = any(op.script.revokes for op in ops)
        if not self._direct and self.replication.wait_replicas == "auto" and revoking:
            return self._send_by_node(ops, nonces)
        wanted = self.replication.wanted(
            writes=any(op.script.writes for op in ops), revokes=revoking, single=self._direct
        )
        wait = bool(wanted)
        if len(ops) == 1 and self._direct and not wait:
            if self._lean:
                return [send_one(self.client, _evalsha(ops[0], nonces[0]))]
            return [self._execute_one(ops[0], nonces[0])]
        replies = self._pipeline(ops, nonces, wanted)
        if len(replies) != len(ops) + wait:
            self._out_of_step()
        if wait:
            self._acked(replies.pop(), wanted, revoking)
        return replies

    def _pipeline(self, ops: t.Sequence[Op], nonces: list[bytes], wanted: int) -> list[t.Any]:
        pipe = self.client.pipeline(transaction=False)
        for op, nonce in zip(ops, nonces, strict=True):
            # execute_command, not evalsha(): redis-py's cluster pipeline
            # blocks the evalsha() method but routes the command by its keys.
            pipe.execute_command(*_evalsha(op, nonce))  # type: ignore[no-untyped-call]
        if wanted:
            pipe.execute_command(  # type: ignore[no-untyped-call]
                "WAIT", wanted, self.replication.wait_timeout_ms
            )
        replies: list[t.Any] = pipe.execute(raise_on_error=False)
        return replies

    def _send_by_node(self, ops: t.Sequence[Op], nonces: list[bytes]) -> list[t.Any]:
        """A revocation on a cluster: each node's ops on one connection of its own,
        followed there by ``WAIT`` when that node has a replica (``WAIT`` counts
        the writes of its own connection only). One trip per node."""
        cluster = t.cast(RedisCluster, self.client)
        groups: dict[str, tuple[t.Any, list[int]]] = {}
        for position, op in enumerate(ops):
            node = cluster.get_node_from_key(op.keys[0])  # type: ignore[no-untyped-call]
            groups.setdefault(node.name, (node, []))[1].append(position)
        replies: list[t.Any] = [None] * len(ops)
        for node, members in groups.values():
            client = cluster.get_redis_connection(node)
            wanted = 1 if self.replication.has_replica(node.name, client) else 0
            pipe = client.pipeline(transaction=False)
            for position in members:
                op = ops[position]
                pipe.execute_command(  # type: ignore[no-untyped-call]
                    *_evalsha(op, nonces[position])
                )
            if wanted:
                pipe.execute_command(  # type: ignore[no-untyped-call]
                    "WAIT", wanted, self.replication.wait_timeout_ms
                )
            found: list[t.Any] = pipe.execute(raise_on_error=False)
            if len(found) != len(members) + bool(wanted):
                self._out_of_step()
            if wanted:
                self._acked(found.pop(), wanted, revoking=True)
            for position, reply in zip(members, found, strict=True):
                replies[position] = reply
        return replies

    def _acked(self, acked: t.Any, wanted: int, revoking: bool) -> None:
        if not isinstance(acked, int | Exception):
            self._out_of_step()
        if isinstance(acked, int):
            self.replication.acked(acked, wanted, revoking)

    def _execute_one(self, op: Op, nonce: bytes) -> t.Any:
        # One command needs no pipeline: the same single round trip, without
        # building and unpacking a pipeline's command stack.
        try:
            return self.client.execute_command(*_evalsha(op, nonce))  # type: ignore[no-untyped-call]
        except NoScriptError as exc:
            return exc

    def _out_of_step(self) -> t.NoReturn:
        # A reply that is not its call's means the connection is out of step
        # with its requests: drop every pooled connection rather than read on.
        pool = getattr(self.client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()
        raise redis.ConnectionError("Redis replies out of step; reconnecting")

    # The operations, as ops to batch.

    def check(
        self,
        sid: str,
        *,
        expect: bytes,
        now_ms: int,
        idle_ms: int,
        epoch: int | None = None,
        tag: str | None = None,
        generation: int | None = None,
        server: bool = False,
    ) -> list[Op]:
        """The checks of a presented credential, for :func:`verdict`.

        One script on a single server or Sentinel; on a cluster, the record's
        epoch (:data:`~.scripts.EPOCH`) and the user's generation
        (:data:`~.scripts.USER_CHECK`, when the user is known) run beside it.

        :param expect: the token hash a Redis copy of the session must have.
        :param epoch: the epoch the credential carries (None: its Redis copy's).
        :param tag: its user's tag (None: a guest, or its Redis copy's).
        """
        keys = (self.names.session(sid), self.names.revoked(sid), self.names.user_mark(sid))
        candidate = new_epoch()
        args: tuple[bytes | str | int, ...] = (
            sid,
            expect,
            now_ms,
            idle_ms,
            "" if epoch is None else epoch,
            candidate,
            tag or "",
            "" if generation is None else generation,
        )
        if self._direct:
            return [
                Op(
                    scripts.CHECK,
                    (*keys, self.names.record(sid)),
                    (*args, self.names.prefix, "1" if server else ""),
                )
            ]
        ops = [
            Op(scripts.CHECK, keys, (*args, "", "1" if server else "")),
            # A server token's epoch is its copy's (compared by the caller); a
            # JWT without one (issued before epochs) holds none: 0 never does.
            self.epoch(sid, now_ms, None if server else epoch or 0),
        ]
        if tag is not None and generation is not None:
            ops.append(self.user_check(tag, sid, now_ms, generation))
        return ops

    def epoch(self, sid: str, now_ms: int = 0, carried: int | None = None) -> Op:
        """The epoch of ``sid``'s record; with ``carried``, also whether it holds."""
        return Op(
            scripts.EPOCH,
            (self.names.record(sid),),
            (sid, now_ms, "" if carried is None else carried, new_epoch()),
        )

    def read(self, sid: str, token_hash: bytes, now_ms: int, idle_ms: int) -> list[Op]:
        """The checks of a server token (its copy carries its epoch and user)."""
        return self.check(sid, expect=token_hash, now_ms=now_ms, idle_ms=idle_ms, server=True)

    def write(
        self,
        sid: str,
        *,
        expect: bytes | None,
        token_hash: bytes | None,
        now_ms: int,
        deadline_ms: int,
        idle_ms: int,
        fields: t.Mapping[bytes, bytes],
        deleted: t.Iterable[bytes] = (),
        generation_of: str | None = None,
    ) -> Op:
        """Write a session's hash.

        :param generation_of: the tag of a user whose generation the hash
            takes as field ``g`` (one server only: the key is in another slot).
        """
        args: list[bytes | str | int] = [
            expect or b"",
            token_hash or b"",
            now_ms,
            deadline_ms,
            idle_ms,
            "" if generation_of is None else self.names.user_generation(generation_of),
            len(fields),
        ]
        for name, value in fields.items():
            args += (name, value)
        args += deleted
        keys = (self.names.session(sid), self.names.revoked(sid))
        # A new copy (a session moving into Redis): an older token of the sid
        # no longer opens by itself, here at once, elsewhere by the message.
        return Op(scripts.WRITE, keys, tuple(args), "" if expect else "s:" + sid)

    def end(self, sid: str, ttl_ms: int | None) -> Op:
        """End ``sid``: reply ``[not ended before, known to Redis, user tag]``.

        :param ttl_ms: how long no write may bring it back (None: a guest's
            own clear, which leaves nothing behind).
        """
        return Op(
            scripts.END,
            (self.names.session(sid), self.names.revoked(sid), self.names.user_mark(sid)),
            (0 if ttl_ms is None else max(ttl_ms, 1000),),
            "s:" + sid,
        )

    def mark(self, sid: str, until_ms: int, now_ms: int) -> Op:
        """Mark ``sid`` revoked in its record until ``until_ms``: reply ``[epoch]``."""
        args = (sid, until_ms, now_ms, new_epoch())
        return Op(scripts.MARK, (self.names.record(sid),), args, "s:" + sid)

    def user_login(
        self,
        tag: str,
        sid: str,
        info: bytes,
        *,
        now_ms: int,
        deadline_ms: int,
        old_sid: str,
        keep_ms: int,
        device: bytes = b"",
        cap: int = 0,
    ) -> Op:
        """Index ``sid`` under the user: reply ``[the user's generation, dropped sids...]``.

        ``device`` is the sealed client of a login; empty keeps the one stored
        for ``sid`` or hands ``old_sid``'s on.
        """
        return Op(
            scripts.USER_LOGIN,
            (self.names.user_index(tag), self.names.user_generation(tag)),
            (
                sid,
                info,
                now_ms,
                deadline_ms,
                old_sid,
                keep_ms,
                device,
                new_generation(),
                cap,
            ),
        )

    def user_mark(self, sid: str, tag: str, ttl_ms: int) -> Op:
        """The proof that ``sid`` is ``tag``'s: reply ``[1]``, or ``[0]`` when ended meanwhile."""
        return Op(
            scripts.SET_MARK,
            (self.names.user_mark(sid), self.names.revoked(sid)),
            (tag, max(ttl_ms, 1000)),
        )

    def user_check(self, tag: str, sid: str, now_ms: int, generation: int) -> Op:
        """Reply ``[-1]`` when the user's generation is not ``generation`` (or is lost)."""
        return Op(
            scripts.USER_CHECK,
            (self.names.user_index(tag), self.names.user_generation(tag)),
            (sid, now_ms, generation),
        )

    def user_drop(self, tag: str, sid: str) -> Op:
        return Op(scripts.USER_DROP, (self.names.user_index(tag),), (sid,))

    def user_revoke(self, tag: str, ttl_ms: int, moved_to: str) -> Op:
        """Replace the user's generation; rename the index to ``moved_to`` (same slot)."""
        return Op(
            scripts.USER_REVOKE,
            (self.names.user_index(tag), self.names.user_generation(tag), moved_to),
            (max(ttl_ms, 1000), new_generation()),
            "u:" + tag,
        )

    def naming_key(self, candidate: bytes) -> Op:
        return Op(scripts.NAMING_KEY, (self.names.naming_key,), (candidate,))

    def drop(self, sid: str, token_hash: bytes) -> Op:
        return Op(scripts.DROP, (self.names.session(sid),), (token_hash,))


# The random values the scripts compare: fixed lengths, so that a token's
# length says nothing, and inside a double's exact integers.


def new_epoch() -> int:
    """A random epoch of 13 digits, below 2**40: an exact double in a sorted set's
    score, and of one length, so a token's length says nothing of its record."""
    return _EPOCHS[0] + secrets.randbelow(_EPOCHS[1] - _EPOCHS[0])


def new_generation() -> int:
    """A random user generation of 16 digits, below 2**53: never one an older token
    carries, and of one length (a token is sized before Redis says which)."""
    return _GENERATIONS[0] + secrets.randbelow(_GENERATIONS[1] - _GENERATIONS[0])


_EPOCHS: t.Final = (10**12, 2**40)
_GENERATIONS: t.Final = (10**15, 2**53)
