"""jwt mode with ``HYBRID_SESSION_REVOCATION = False``: a backend with no Redis.

A save goes through the same lifecycle as with Redis; the ops it builds
(ending a sid at a rotation or a logout) are dropped unsent. Nothing waits on
their replies: without Redis no credential carries a user tag, so no save
indexes a user, and :data:`~.revocation.NO_REVOCATION` checks nothing.
"""

from __future__ import annotations

import typing as t

from ..keys import KeyNames
from .redis_client import Op
from .redis_client import RedisBackend


class NoRedis(RedisBackend):
    """Builds ops as :class:`RedisBackend` does, and sends none of them."""

    def __init__(self, names: KeyNames) -> None:
        super().__init__(None, names)  # type: ignore[arg-type]

    def run(self, ops: t.Sequence[Op]) -> list[list[t.Any]]:
        return []
