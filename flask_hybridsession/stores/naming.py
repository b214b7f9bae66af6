"""The naming key: what makes a user's Redis key names unguessable.

Configured (``HYBRID_SESSION_NAMING_KEY``), or generated once and kept in Redis
sealed under the key ring. It is not derived from ``SECRET_KEY``, so a rotation
never renames a key.
"""

from __future__ import annotations

import os
import threading
import typing as t

from ..crypto import DecryptError

if t.TYPE_CHECKING:
    from .base import Context
    from .redis_client import RedisBackend

#: Lifetime of the stored naming key, refreshed by every process that loads it.
NAMING_KEY_TTL_MS: t.Final = 400 * 24 * 3600 * 1000


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
