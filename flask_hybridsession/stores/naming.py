"""The naming key: what makes a user's Redis key names unguessable.

Configured (``HYBRID_SESSION_NAMING_KEY``), or generated once and kept in Redis
sealed under the key ring, with no TTL. It is not derived from ``SECRET_KEY``,
so a rotation never renames a key.

It is never replaced silently. A stored key that the key ring cannot open
belongs to another app on the same prefix (or to a secret no longer in the
ring): it is left alone and the app is refused (``ConfigurationError``). A
stored key that is gone was lost with Redis's data: the key that replaces it
begins a new epoch in every revocation record, so every credential named
under the lost key is refused, never left alive under names nobody can find.
"""

from __future__ import annotations

import logging
import os
import threading
import typing as t

import redis

from ..crypto import DecryptError
from ..errors import ConfigurationError
from ..keys import RECORDS

if t.TYPE_CHECKING:
    from .base import Context
    from .redis_client import RedisBackend

logger = logging.getLogger("flask_hybridsession")


class NamingKey:
    """The key that names user keys: configured, or generated once and kept in Redis."""

    def __init__(self, configured: bytes | None) -> None:
        self._configured = configured
        self._key = configured
        self._lock = threading.Lock()
        #: Called when this process stored a new key (and so began new epochs).
        self.on_new_key: t.Callable[[], None] | None = None

    @property
    def cached(self) -> bytes | None:
        return self._key

    def forget(self) -> None:
        """Read the stored key again at next use (Redis may have lost it)."""
        if self._configured is None:
            with self._lock:
                self._key = None

    def load(self, ctx: Context, backend: RedisBackend) -> bytes:
        """The naming key; one round trip the first time a process needs it.

        :raises ConfigurationError: the stored key is sealed under keys this
            app does not have (another app's ``SECRET_KEY`` on the same prefix).
        :raises redis.RedisError: Redis is unavailable.
        """
        key = self._key
        if key is not None:
            return key
        candidate = ctx.ring.seal("", b"naming-key", os.urandom(32))
        [[stored, created]] = backend.run([backend.naming_key(candidate)])
        try:
            key, current = ctx.ring.open("", b"naming-key", stored)
        except DecryptError:
            raise ConfigurationError(
                "HYBRID_SESSION_KEY_PREFIX",
                f"is {backend.names.prefix!r}, and Redis holds a naming key under it that"
                " this app's SECRET_KEY (and fallbacks) cannot open: another app, or a"
                " secret no longer configured, uses this prefix. Give each app its own"
                " prefix, or add the old secret to SECRET_KEY_FALLBACKS; nothing was"
                " overwritten.",
            ) from None
        if created:
            # A new key: any credential named under a lost one must not pass.
            if _new_epochs(backend):
                # Revocation records were there: the app ran before, and
                # Redis lost its naming key (an eviction under allkeys-*).
                logger.warning(
                    "Redis had lost the naming key under %r: a new one was made, and every"
                    " credential of a signed-in user from before is refused (users sign in"
                    " again). Keep Redis from evicting it: see the deployment docs.",
                    backend.names.prefix,
                )
            else:
                logger.info("made the naming key under %r", backend.names.prefix)
            if self.on_new_key is not None:
                self.on_new_key()
        if not current:
            # Re-seal under the current key before the retired one is dropped.
            backend.client.set(backend.names.naming_key, ctx.ring.seal("", b"naming-key", key))
        with self._lock:
            self._key = key
        return key

    def tag(self, ctx: Context, backend: RedisBackend, user_id: str) -> str:
        return backend.names.user_tag(self.load(ctx, backend), user_id)


def _new_epochs(backend: RedisBackend) -> int:
    """Drop every revocation record: each begins a new epoch at its next use.

    :return: how many records there were.
    """
    names = [backend.names.record_at(number) for number in range(RECORDS)]
    if backend.single_slot:
        dropped = int(backend.client.delete(*names))
    else:
        dropped = sum(int(backend.client.delete(name)) for name in names)
    # Every view drops what it holds: a check kept meanwhile proved the old epochs.
    try:
        backend.client.publish(backend.names.view, "r:*")
    except redis.ResponseError:
        pass  # an ACL user without the channel: no view of it listens either
    return dropped
