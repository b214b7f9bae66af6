"""The :class:`HybridSession` extension object."""

from __future__ import annotations

import logging
import typing as t
import weakref

from flask import current_app
from flask import request
from flask import session

from . import admin
from . import login
from .config import load_settings
from .embedded import EmbeddedRedis
from .engine import SessionEngine
from .errors import ConfigurationError
from .errors import HybridSessionError
from .interface import HybridSessionInterface
from .interface import real_app
from .interface import refuse_when_unavailable
from .interface import serving
from .keys import KeyNames
from .secret_key import check_secret
from .session import HybridSessionData
from .stores.redis_client import STORE_ERRORS
from .stores.redis_client import RedisBackend
from .stores.redis_connect import connect
from .stores.revocation import Revocation
from .stores.revocation import warn_if_evicting

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.config import Config

logger = logging.getLogger("flask_hybridsession")

#: The key of the extension in ``app.extensions``.
EXTENSION_KEY: t.Final = "hybrid_session"


class HybridSession:
    """One :data:`flask.session` as encrypted JWTs, as Redis sessions, or both.

    .. code-block:: python

        app.config["HYBRID_SESSION_MODE"] = "server"
        hybrid = HybridSession(app)  # or HybridSession() and init_app(app)

    One instance may serve several apps: per-app state lives in
    ``app.session_interface`` and ``app.extensions["hybrid_session"]``,
    never on the instance.

    :param app: the app to set up now, or None to call :meth:`init_app` later.

    .. versionadded:: 0.1
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check the configuration and install the session interface on ``app``.

        A missing ``SECRET_KEY`` is no error: the session is then Flask's
        ``NullSession``, as with Flask's own session, and a key set later works.

        :raises ConfigurationError: a setting is wrong; the message names it
            and the fix.
        """
        settings = load_settings(app)
        check_secret(app)
        _check_cookie_settings(app.config)

        backend = keepalive = None
        if settings.needs_redis:
            client, keepalive = connect(settings, app)
            backend = RedisBackend(
                client,
                KeyNames(settings.key_prefix),
                wait_replicas=settings.wait_replicas,
                # Well inside the socket timeout, so the WAIT reply comes in time.
                wait_timeout_ms=max(int(settings.redis_timeout * 500), 1),
                built_here=settings.redis_client is None,
            )
        engine = SessionEngine(settings, backend, keepalive)
        interface = HybridSessionInterface(engine)
        if backend is not None and settings.redis_client is None:
            # A client we built goes with the app: close its sockets when the
            # interface is collected or the process exits (a cluster client
            # does not by itself), then let an embedded server stop once no
            # other process uses it.
            weakref.finalize(interface, release, backend.client, keepalive)
        app.session_interface = interface
        if (
            backend is not None
            and app.secret_key
            and settings.naming_key is None
            and not isinstance(keepalive, EmbeddedRedis)
        ):
            # Load the naming key now, so no login pays the extra round trip
            # and another app's key on this prefix is refused here. Redis may
            # not be up yet: then the first login loads it. (Not from the
            # embedded Redis, which starts on first use only.)
            try:
                secrets = engine.secrets(app.config)
                if secrets is not None:
                    engine.naming.load(engine.context(app.config, secrets), backend)
                if isinstance(engine.revocation, Revocation):
                    # So that no request pays the trip to learn them.
                    engine.revocation.prefetch()
            except STORE_ERRORS as exc:
                logger.info("naming key not loaded at start (%s); loading it later", exc)
        if backend is not None and not isinstance(keepalive, EmbeddedRedis):
            found = warn_if_evicting(backend.client)
            if found is not None:
                # So that no revocation soon after start pays the trip to ask.
                backend.replication.note(found["replicas"])
        app.extensions[EXTENSION_KEY] = self
        login.connect()
        from .cli import cli

        if "hybrid-session" not in app.cli.commands:
            app.cli.add_command(cli)
        hooks = app.before_request_funcs.setdefault(None, [])
        if refuse_when_unavailable not in hooks:
            # First, so no other hook runs with a session that could not open.
            hooks.insert(0, refuse_when_unavailable)

    # The methods below act on the current app; those without a sid act on
    # the current request's session.

    def regenerate(self) -> None:
        """Give the current session a new id and token, keep its data, end the old token.

        Call it on re-authentication and privilege changes (a new role, a
        password change). Flask-Login logins do it by themselves.

        .. versionadded:: 0.1
        """
        current = _current_session()
        current._state.ask_rotation()
        current.modified = True

    def pin(self) -> None:
        """Keep the current session in Redis whatever its size (``auto`` mode).

        A pinned session never moves into a token, so ending it deletes all
        there is of it: use it for administrators. ``HYBRID_SESSION_AUTO_PIN_LOGIN = True``
        pins every session at login.

        :raises HybridSessionError: the mode is ``jwt``, which has no Redis sessions.

        .. versionadded:: 0.1
        """
        if _interface().settings.mode == "jwt":
            raise HybridSessionError("pin() needs HYBRID_SESSION_MODE 'auto' or 'server'.")
        current = _current_session()
        current._state.pin()
        current.modified = True

    def health(self) -> dict[str, t.Any]:
        """Whether the session store answers, and how fast.

        :return: ``{"mode", "redis": "ok" | "unavailable" | "not used",
            "latency_ms", "error"}``; never raises.

        .. versionadded:: 0.1
        """
        return admin.health(_engine())

    def logout(self) -> None:
        """Clear the current session and end its token, in every form it was issued.

        Keeps ``_remember = "clear"`` when a Flask-Login remember cookie came
        with the request, so that cookie is deleted too.

        .. versionadded:: 0.1
        """
        current = _current_session()
        had_remember = login.remember_cookie_name(current_app) in request.cookies
        current.clear()
        login.mark_logout(current)
        if had_remember:
            current["_remember"] = "clear"

    def revoke(self, sid: str) -> bool:
        """End session ``sid`` wherever it lives; any token of it opens nothing after.

        :return: False for an unknown or already ended sid (or when
            ``HYBRID_SESSION_REVOCATION`` is off in jwt mode).
        :raises StoreUnavailable: Redis is unavailable.

        .. versionadded:: 0.1
        """
        return admin.revoke(_engine(), real_app(), sid)

    def revoke_user(self, user_id: str | int) -> int:
        """Log ``user_id`` out everywhere: every session and token issued before now.

        Flask-Login remember-me cookies of the user stop working too.

        :return: the number of indexed sessions it ended.
        :raises StoreUnavailable: Redis is unavailable.

        .. versionadded:: 0.1
        """
        return admin.revoke_user(_engine(), real_app(), str(user_id))

    def sessions_for(self, user_id: str | int) -> list[admin.SessionInfo]:
        """The user's live sessions, newest activity first; stale index entries are dropped.

        :raises StoreUnavailable: Redis is unavailable.

        .. versionadded:: 0.1
        """
        return admin.sessions_for(_engine(), real_app(), str(user_id))

    def is_revoked(self, sid: str) -> bool:
        """Whether ``sid`` was ended (by logout, revocation or rotation).

        :raises StoreUnavailable: Redis is unavailable.

        .. versionadded:: 0.1
        """
        return admin.is_revoked(_engine(), sid)


def _check_cookie_settings(config: Config) -> None:
    """Flask's own session cookie keys: SameSite Lax by default, names that need Secure.

    :raises ConfigurationError: a combination browsers refuse.
    """
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    name = config.get("SESSION_COOKIE_NAME") or "session"
    secure = bool(config.get("SESSION_COOKIE_SECURE"))
    if name.startswith(("__Host-", "__Secure-")) and not secure:
        raise ConfigurationError(
            "SESSION_COOKIE_SECURE",
            f"is off but SESSION_COOKIE_NAME {name!r} needs Secure; set it to True.",
        )
    if name.startswith("__Host-") and (
        config.get("SESSION_COOKIE_DOMAIN")
        or (config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/") != "/"
    ):
        raise ConfigurationError(
            "SESSION_COOKIE_DOMAIN",
            "must be unset (and the path '/') for a __Host- cookie name.",
        )
    if str(config.get("SESSION_COOKIE_SAMESITE")).lower() == "none" and not secure:
        raise ConfigurationError(
            "SESSION_COOKIE_SAMESITE",
            "is 'None', which browsers accept only with SESSION_COOKIE_SECURE = True.",
        )
    if config.get("SESSION_COOKIE_HTTPONLY") is False:
        logger.warning(
            "SESSION_COOKIE_HTTPONLY is False: scripts on the page can read the session credential."
        )


def _engine() -> SessionEngine:
    return _interface().engine


def _interface() -> HybridSessionInterface:
    found = serving(current_app)
    if found is None:
        raise RuntimeError("HybridSession(app) has not been set up on the current app.")
    return found


def _current_session() -> HybridSessionData:
    _interface()
    found = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(found, HybridSessionData):
        raise RuntimeError("The session is unavailable (no SECRET_KEY, or Redis is down).")
    return found


def release(client: t.Any, keepalive: t.Any) -> None:
    """Close a client the extension built, and stop its embedded server when unused.

    An embedded server that other processes of the app still use stays up
    until this process exits.
    """
    client.close()
    if isinstance(keepalive, EmbeddedRedis):
        keepalive.release()
