"""Waiting for replicas (``HYBRID_SESSION_WAIT_REPLICAS``): how many a write
needs, whether the master or a cluster node has one, and what a short ``WAIT``
means."""

from __future__ import annotations

import logging
import time
import typing as t

import redis
from redis.exceptions import RedisClusterException

from ..keys import KeyNames

logger = logging.getLogger("flask_hybridsession")

#: How long (s) the master's count of connected replicas is trusted (WAIT "auto").
REPLICAS_CHECKED_EVERY: t.Final = 10.0

#: How long (s) the count of unacknowledged revocations lives after the last one.
UNACKNOWLEDGED_KEPT: t.Final = 31 * 24 * 3600


class Replication:
    """The replicas a write waits for, and the revocations none acknowledged."""

    def __init__(
        self,
        client: t.Any,
        names: KeyNames,
        wait_replicas: int | t.Literal["auto"],
        wait_timeout_ms: int,
    ) -> None:
        self.client = client
        self.names = names
        #: HYBRID_SESSION_WAIT_REPLICAS: replicas that must acknowledge a write,
        #: or "auto" (one, after a revocation, while the master has one).
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        #: Revocations that no replica acknowledged in time (this process).
        self.unacknowledged = 0
        #: Connected replicas of the master ("") or of each cluster node (by
        #: name), and until when (monotonic) that holds.
        self._replicas: dict[str, tuple[int, float]] = {}

    def wanted(self, *, writes: bool, revokes: bool, single: bool) -> int:
        """How many replicas must acknowledge a round trip (``WAIT``), 0 for none.

        :param single: one server or Sentinel (a cluster waits node by node).
        """
        if self.wait_replicas == "auto":
            if not single or not revokes:
                return 0
            return 1 if self.has_replica("", self.client) else 0
        return self.wait_replicas if writes else 0

    def note(self, connected: int, node: str = "") -> int:
        """Keep a count of connected replicas (read from ``INFO``) for a while."""
        self._replicas[node] = (connected, time.monotonic() + REPLICAS_CHECKED_EVERY)
        return connected

    def has_replica(self, node: str, client: t.Any) -> bool:
        """Whether the master ("") or a cluster node has a replica; asked again at
        most every :data:`REPLICAS_CHECKED_EVERY` seconds, by revocations only."""
        connected, until = self._replicas.get(node, (0, 0.0))
        if time.monotonic() >= until:
            info = client.info("replication")
            connected = self.note(int(info.get("connected_slaves", 0)), node)
        return connected > 0

    def acked(self, acked: int, wanted: int, revoking: bool) -> None:
        """Judge a ``WAIT`` reply: a revocation short of it is logged and counted,
        another write short of it answers 503."""
        if acked >= wanted:
            return
        if not revoking:
            raise redis.TimeoutError(f"the write reached {acked} of {wanted} replicas in time")
        # Done on the master: refusing the request would not undo it.
        self.unacknowledged += 1
        try:
            # For `stats`, whichever process asks: best effort, one command.
            self.client.incr(self.names.unacknowledged)
            self.client.expire(self.names.unacknowledged, UNACKNOWLEDGED_KEPT)
        except (redis.RedisError, RedisClusterException):
            pass
        logger.warning(
            "a revocation reached %d of %d replicas in time: a failover now could bring"
            " the revoked credential back",
            acked,
            wanted,
        )
