"""What every store offers the interface, and what it is handed per request."""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from ..config import Settings
    from ..crypto import KeyRing
    from ..serialization import SessionSerializer
    from ..session import HybridSessionData
    from ..session import SessionState
    from .redis_client import RedisBackend
    from .revocation import NoRevocation
    from .revocation import Revocation


@dataclasses.dataclass(slots=True)
class Context:
    """One request's view of the keys, the clock and the limits."""

    settings: Settings
    ring: KeyRing
    serializer: SessionSerializer
    #: The Redis operations (a :class:`~.no_redis.NoRedis` without Redis).
    backend: RedisBackend
    #: The revocation checks (:data:`~.revocation.NO_REVOCATION` without Redis).
    revocation: Revocation | NoRevocation
    #: The clock, Unix seconds.
    now: float
    #: Absolute lifetime in seconds: HYBRID_SESSION_ABSOLUTE_TIMEOUT or
    #: PERMANENT_SESSION_LIFETIME.
    absolute: int
    #: Size of the whole ``Set-Cookie`` value for a credential, for budgets.
    cookie_size: t.Callable[[str, int | None], int]
    #: SESSION_REFRESH_EACH_REQUEST: re-send a permanent session's credential.
    refresh_each_request: bool
    #: How long a user's generation must be kept: remember-me cookies are
    #: checked against it for as long as they live (ms).
    keep_generation_ms: int = 0

    @property
    def now_ms(self) -> int:
        return int(self.now * 1000)

    @property
    def idle_ms(self) -> int:
        return (self.settings.idle_timeout or 0) * 1000

    def deadline(self, created: int) -> int:
        """When a session created at ``created`` dies, whatever its activity (seconds)."""
        return created + self.absolute

    def expiry(self, created: int) -> int:
        """min(absolute deadline, now + idle): a token's ``exp``, an entry's end."""
        end = self.deadline(created)
        if self.settings.idle_timeout:
            end = min(end, int(self.now) + self.settings.idle_timeout)
        return end

    def mark_ttl_ms(self, created: int) -> int:
        """TTL of a tombstone: past the absolute deadline no token is valid anyway."""
        return (self.deadline(created) - int(self.now) + 1) * 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Issue:
    """A credential for the response: a new value, or ``None`` to clear it."""

    value: str | None
    #: When it stops being valid (Unix seconds): caps a permanent cookie's Expires.
    expires: int | None = None
    #: False when ``value`` is the credential the request brought, re-sent.
    renewed: bool = True


class Loader(t.Protocol):
    """Opens one kind of credential: a JWT, or a server token."""

    def load(self, ctx: Context, state: SessionState, credential: str) -> dict[str, t.Any] | None:
        """Open ``credential``: the session's data, or None when it is not valid.

        Fills ``state`` with the session's id, origin and clocks.

        :raises redis.RedisError: Redis is unavailable.
        :raises Exception: any parse error means the credential is not valid.
        """


class Store(t.Protocol):
    """Saves a session where the mode keeps it: its token, Redis, or either (auto)."""

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        """Persist ``session``; return what the response must carry, if anything.

        :raises redis.RedisError: Redis is unavailable.
        :raises SessionTooLarge: the session no longer fits where it lives.
        """
