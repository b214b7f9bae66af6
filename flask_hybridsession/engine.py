"""The session engine: what opens and saves a session, with no request or response in sight.

One :class:`SessionEngine` per app owns the checked settings, the Redis
operations (or none), the key rings, the serializer, the naming key, the three
stores and the clock. :meth:`~SessionEngine.open` turns a credential into a
session's data and :meth:`~SessionEngine.save` turns a session into what the
response must carry. The Flask interface (``interface.py``) only finds the
credential in a request and writes the answer into a response; the admin
operations, the CLI, the migration and the testing helpers use the engine.

It reads an app's configuration as a mapping (``app.config``), never a request:
it may import the stores, the crypto, the tokens and the serializer, never the
interface, the extension or the CLI.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
import typing as t

from .config import DEFAULT_PREFIX
from .config import MAX_SECONDS
from .config import MIN_SECRET_BYTES
from .crypto import KeyRingCache
from .crypto import to_bytes
from .errors import InvalidCredential
from .keys import KeyNames
from .login import remember_seconds
from .serialization import SessionSerializer
from .stores import jwt as jwt_store
from .stores import server
from .stores.auto import AutoStore
from .stores.base import Context
from .stores.naming import NamingKey
from .stores.no_redis import NoRedis
from .stores.redis_client import STORE_ERRORS
from .stores.redis_client import RedisBackend
from .stores.revocation import NO_REVOCATION
from .stores.revocation import NoRevocation
from .stores.revocation import Revocation
from .stores.view import RevocationView
from .tokens import TokenCodec
from .tokens import VerifiedTokens

if t.TYPE_CHECKING:
    from .config import Settings
    from .session import HybridSessionData
    from .session import SessionState
    from .stores.base import Issue
    from .stores.base import Loader
    from .stores.base import Store

logger = logging.getLogger("flask_hybridsession")

#: No credential of ours is longer: checked before any parsing or Redis call.
MAX_CREDENTIAL: t.Final = 4096


def _seconds(value: datetime.timedelta | float) -> int:
    """``PERMANENT_SESSION_LIFETIME`` in seconds, as Flask reads it (a timedelta or seconds)."""
    if not isinstance(value, datetime.timedelta):
        value = datetime.timedelta(seconds=value)
    return int(value.total_seconds())


class SessionEngine:
    """Opens and saves sessions for one app's settings.

    :param settings: the checked configuration.
    :param backend: the Redis operations, or None in jwt mode with revocation off.
    :param keepalive: what must live as long as the client (an embedded server).
    """

    def __init__(
        self, settings: Settings, backend: RedisBackend | None, keepalive: t.Any = None
    ) -> None:
        self.settings = settings
        #: The app's Redis; None in jwt mode with revocation off.
        self.backend = backend
        #: What the stores send their ops to: the same Redis, or, without one,
        #: a backend that drops them (jwt mode is then one mode, not two).
        self._ops: RedisBackend = backend or NoRedis(KeyNames(settings.key_prefix))
        self.keepalive = keepalive
        #: The clock, Unix seconds; tests may replace it.
        self.clock: t.Callable[[], float] = time.time
        #: Tagged JSON, as Flask's own session; ``serializer.register(...)`` adds types.
        self.serializer = SessionSerializer()
        #: Names the user keys in Redis.
        self.naming = NamingKey(settings.naming_key)
        #: The revocation checks, and the epochs of the records this process saw.
        self.revocation: Revocation | NoRevocation = NO_REVOCATION
        #: The name of a user's proofs in Redis; without Redis there are none,
        #: and no credential carries one.
        self._tag: t.Callable[[Context, str], str | None] = _untagged
        if backend is not None:
            view = None
            if settings.revocation_view and settings.mode != "server":
                view = RevocationView(
                    backend.client, backend.names.view, settings.revocation_view_size
                )
            self.revocation = Revocation(backend, self.naming, view)
            self.naming.on_new_key = self.revocation.forget_epochs
            self._tag = functools.partial(_tagged, self.naming, backend)
        # The default prefix derives as before it was bound in (no sign-out).
        tenant = "" if settings.key_prefix == DEFAULT_PREFIX else settings.key_prefix
        self.rings = KeyRingCache(settings.encryption_keys, settings.jwt_algorithm, tenant)
        self._short_secret_warned = False
        self.server_store = server.ServerStore(self._ops)
        self.jwt_store = jwt_store.JwtStore(
            TokenCodec(settings), self._ops, self.server_store, VerifiedTokens(settings.token_cache)
        )
        stores: dict[str, Store] = {
            "jwt": self.jwt_store,
            "server": self.server_store,
            "auto": AutoStore(self.jwt_store, self.server_store),
        }
        #: The store new and changed sessions are saved to.
        self.store = stores[settings.mode]

    def secrets(self, config: t.Mapping[str, t.Any]) -> tuple[bytes, ...] | None:
        """``SECRET_KEY`` and its fallbacks, newest first; None without a ``SECRET_KEY``."""
        secret_key = config.get("SECRET_KEY")
        if not secret_key:
            return None
        fallbacks = config.get("SECRET_KEY_FALLBACKS") or ()
        if isinstance(fallbacks, str | bytes):
            # One secret, not a list of one-character secrets.
            fallbacks = (fallbacks,)
        secrets = (to_bytes(secret_key), *(to_bytes(s) for s in fallbacks))
        if not self._short_secret_warned and min(map(len, secrets)) < MIN_SECRET_BYTES:
            self._short_secret_warned = True
            logger.warning(
                "SECRET_KEY or one of SECRET_KEY_FALLBACKS is shorter than %d bytes;"
                " use at least %d random bytes outside tests.",
                MIN_SECRET_BYTES,
                MIN_SECRET_BYTES,
            )
        return secrets

    def context(
        self,
        config: t.Mapping[str, t.Any],
        secrets: tuple[bytes, ...],
        cookie_size: t.Callable[[str, int | None], int] | None = None,
    ) -> Context:
        """The keys, clock and limits for one request (or one admin call).

        :param config: the app's configuration (lifetimes, refresh, remember-me).
        :param cookie_size: the length of the ``Set-Cookie`` value that would
            carry a credential; the credential's own length when not given.
        """
        absolute = self.settings.absolute_timeout or min(
            _seconds(config["PERMANENT_SESSION_LIFETIME"]), MAX_SECONDS
        )
        return Context(
            settings=self.settings,
            ring=self.rings.get(secrets),
            serializer=self.serializer,
            backend=self._ops,
            revocation=self.revocation,
            now=self.clock(),
            absolute=absolute,
            cookie_size=cookie_size or _length,
            refresh_each_request=config["SESSION_REFRESH_EACH_REQUEST"],
            keep_generation_ms=max(absolute, remember_seconds(config)) * 1000,
        )

    def loader(self, credential: str) -> Loader | None:
        """The store that opens ``credential``, by its format; None for no credential of ours."""
        if len(credential) > MAX_CREDENTIAL:
            return None
        if server.TOKEN_FORMAT.fullmatch(credential):
            return self.server_store
        if jwt_store.TOKEN_FORMAT.fullmatch(credential):
            return self.jwt_store
        return None

    def open(self, ctx: Context, state: SessionState, credential: str) -> dict[str, t.Any]:
        """The data of the session ``credential`` opens; fills ``state``.

        :raises InvalidCredential: the credential opens nothing (its reason
            names the check that failed, never the credential).
        :raises redis.RedisError: Redis is unavailable.
        """
        loader = self.loader(credential)
        if loader is None:
            raise InvalidCredential("malformed")
        try:
            data = loader.load(ctx, state, credential)
        except STORE_ERRORS:
            raise
        except Exception as exc:
            # Client input, or a Redis entry that is not ours: the class name
            # says which check failed.
            raise InvalidCredential(type(exc).__name__) from None
        if data is None:
            raise InvalidCredential("unknown, expired or revoked")
        user = state.user
        # Named under a naming key Redis no longer holds: its proofs are out of
        # reach of revoke_user, so it opens nothing.
        if user.id is not None and user.tag != self._tag(ctx, user.id):
            raise InvalidCredential("named under a lost naming key")
        return data

    def save(self, ctx: Context, session: HybridSessionData) -> Issue | None:
        """Persist ``session``; what the response must carry, if anything.

        :raises redis.RedisError: Redis is unavailable.
        :raises SessionTooLarge: the session no longer fits where it lives.
        """
        state = session._state
        if state.due.login is not None:
            state.due.login_tag = self._tag(ctx, state.due.login)
        return self.store.save(ctx, session)

    def user_tag(self, ctx: Context, user_id: str) -> str:
        """The name of ``user_id``'s keys in Redis (needs Redis).

        :raises redis.RedisError: Redis is unavailable.
        """
        return self.naming.tag(ctx, self._redis(), user_id)

    def user_proof(self, ctx: Context, user_id: str) -> int | None:
        """``user_id``'s generation in Redis; None when Redis holds none (lost or never set).

        :raises redis.RedisError: Redis is unavailable.
        """
        backend = self._redis()
        raw = backend.client.get(backend.names.user_generation(self.user_tag(ctx, user_id)))
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def _redis(self) -> RedisBackend:
        if self.backend is None:  # pragma: no cover - callers check for Redis first
            raise RuntimeError("user keys need Redis")
        return self.backend


def _tagged(naming: NamingKey, backend: RedisBackend, ctx: Context, user_id: str) -> str:
    return naming.tag(ctx, backend, user_id)


def _untagged(ctx: Context, user_id: str) -> None:
    return None


def _length(value: str, expires: int | None) -> int:
    return len(value)
