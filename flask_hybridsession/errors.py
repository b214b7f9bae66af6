"""The exceptions raised by flask-hybridsession.

Every exception derives from :class:`HybridSessionError`. A bad credential sent
by a client is never an exception for the app: it opens a fresh empty session.
"""

from __future__ import annotations

import typing as t

from werkzeug.exceptions import ServiceUnavailable


class HybridSessionError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(HybridSessionError):
    """A ``HYBRID_SESSION_*`` (or Flask session) setting is missing or wrong.

    Raised by :meth:`~flask_hybridsession.HybridSession.init_app`. The message
    names the key, the value seen and the fix.

    .. versionadded:: 0.1
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        #: The configuration key at fault.
        self.key = key


class StoreUnavailable(HybridSessionError, ServiceUnavailable):
    """Redis could not be reached or did not answer in time.

    It is also a :class:`werkzeug.exceptions.ServiceUnavailable`, so a view
    that calls a :class:`~flask_hybridsession.HybridSession` method while
    Redis is down answers ``503`` with ``Retry-After`` the ordinary way. The
    extension never lets it escape from ``open_session`` or ``save_session``:
    it turns it into that ``503`` itself.

    .. versionadded:: 0.1
    """

    description = "The session store is unavailable. Please retry shortly."

    def __init__(self, retry_after: int = 5, *, cause: str = "") -> None:
        ServiceUnavailable.__init__(self, retry_after=retry_after)
        #: Seconds sent in the ``Retry-After`` header.
        self.retry_after_seconds = retry_after
        #: The Redis error's class name, for logs (never a credential).
        self.cause = cause

    def __str__(self) -> str:
        return f"503 Service Unavailable: {self.description}"


class SessionTooLarge(HybridSessionError):
    """A ``jwt``-mode session no longer fits the cookie budget.

    Raised from ``save_session`` instead of sending a cookie that browsers
    would silently drop.

    .. versionadded:: 0.1
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"The session cookie would be {size} bytes and the budget"
            f" (HYBRID_SESSION_MAX_COOKIE_BYTES) is {limit}; store less in the"
            " session, or set HYBRID_SESSION_MODE = 'auto' (or 'server') to keep"
            " large sessions in Redis."
        )
        #: The size of the ``Set-Cookie`` value that was refused, in bytes.
        self.size = size
        #: The budget in force, in bytes.
        self.limit = limit


class InvalidCredential(HybridSessionError):
    """A credential that opens nothing: malformed, forged, expired, revoked or unknown.

    Internal: :meth:`~flask_hybridsession.engine.SessionEngine.open` raises it,
    and the interface catches it in one place and opens a fresh empty session
    instead; an app never sees it. Its message is the reason, for the security
    log, and never holds the credential.
    """


__all__: t.Final = [
    "ConfigurationError",
    "HybridSessionError",
    "SessionTooLarge",
    "StoreUnavailable",
]
