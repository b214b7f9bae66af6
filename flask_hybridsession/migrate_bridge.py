"""Turn one Flask-Session session into one of ours, and serve its old cookie.

:func:`migrate_session` saves a session read from Flask-Session through the
server store's own write path: encrypted fields, a new sid and token, and,
for a Flask-Login session, the user index, so ``revoke_user`` reaches it.

The browser still holds the Flask-Session cookie, whose value is the old sid.
For each migrated session a bridge entry is stored,
``<HYBRID_SESSION_KEY_PREFIX>fs:<SHA-256 of the old sid>``, holding the new
token sealed under the key ring, with the migrated session's lifetime.
:func:`accept_flask_session_cookies` reads it: a request that brings an old
cookie is served as the migrated session, and its response carries the new
cookie. Redis holds no usable credential in the bridge either: its name is a
hash of the old sid and its value is encrypted. Its first use shortens it to
a minute's grace, for the requests the browser sent in parallel.

It may import the interface, the session, the stores and what they build
on, and :mod:`.migrate_reader` for the shape of a Flask-Session sid; never
:mod:`.migrate` (the command) or :mod:`.cli`.
"""

from __future__ import annotations

import re
import typing as t
import weakref

from flask import Flask
from flask import request
from flask import session
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.http import parse_cookie

from .crypto import DecryptError
from .errors import ConfigurationError
from .interface import HybridSessionInterface
from .interface import serving
from .migrate_reader import LEGACY_COOKIE
from .migrate_reader import sid_hash
from .session import HybridSessionData
from .session import SessionState
from .stores.redis_client import STORE_ERRORS

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

    from .crypto import KeyRing
    from .stores.base import Context

#: How long a bridge entry lives after its first use.
BRIDGE_GRACE_SECONDS: t.Final = 60
#: Where the request's bridged credential is noted for the response.
ENVIRON_KEY: t.Final = "flask_hybridsession.bridged"
#: Bound into every sealed bridge entry with its name: an entry opens only
#: under the name it was written to.
_CONTEXT: t.Final = b"flask-session|"


def bridge_key(prefix: str, old_sid: str) -> str:
    """The bridge entry's name: a hash of the old sid, never the sid itself."""
    return f"{prefix}fs:{sid_hash(old_sid)}"


def redis_interface(app: Flask) -> HybridSessionInterface:
    """``app``'s session interface, which must have a Redis to hold sessions and bridges.

    :raises ConfigurationError: the app has no Redis (jwt mode without
        revocation).
    """
    found = serving(app)
    if found is None or found.backend is None:
        raise ConfigurationError(
            "HYBRID_SESSION_REVOCATION",
            "is off in jwt mode, so there is no Redis to migrate Flask-Session sessions"
            " into; set HYBRID_SESSION_MODE = 'server' or 'auto', or turn revocation on.",
        )
    return found


def _context(app: Flask, interface: HybridSessionInterface) -> Context:
    engine = interface.engine
    secrets = engine.secrets(app.config)
    if secrets is None:
        raise ConfigurationError("SECRET_KEY", "is not set; sessions cannot be encrypted.")
    return engine.context(app.config, secrets)


def already_bridged(interface: HybridSessionInterface, old_sids: t.Sequence[str]) -> list[bool]:
    """Whether each old sid has a bridge entry (an earlier run), in one round trip."""
    check = interface.backend.client.pipeline(transaction=False)  # type: ignore[union-attr]
    for old_sid in old_sids:
        check.exists(bridge_key(interface.settings.key_prefix, old_sid))
    return [bool(found) for found in check.execute()]


def save_migrated(
    app: Flask, interface: HybridSessionInterface, data: dict[str, t.Any]
) -> tuple[str, int] | None:
    """Save ``data`` as a new server-side session through the store's write path.

    A Flask-Login session (``_user_id``) is saved as a login: indexed under
    its user, so ``sessions_for`` lists it and ``revoke_user`` ends it.

    :return: the new token and its lifetime in seconds, or None when the
        session could not be written.
    """
    ctx = _context(app, interface)
    state = SessionState()
    current = HybridSessionData(data, state=state)
    current.modified = True
    user_id = data.get("_user_id")
    if user_id is not None:
        state.ask_login(str(user_id), None, None)
        state.due.login_tag = interface.engine.user_tag(ctx, str(user_id))
    issue = interface.engine.server_store.save(ctx, current)
    if issue is None or issue.value is None or issue.expires is None:
        return None
    return issue.value, max(issue.expires - int(ctx.now), 1)


def migrate_session(
    app: Flask, interface: HybridSessionInterface, old_sid: str, data: dict[str, t.Any]
) -> bool:
    """Save ``data`` as a new session, and bridge ``old_sid`` to it for its lifetime.

    :return: False when the session could not be written (it expired).
    """
    saved = save_migrated(app, interface, data)
    if saved is None:
        return False
    token, lifetime = saved
    ring = _context(app, interface).ring
    name = bridge_key(interface.settings.key_prefix, old_sid)
    client = interface.backend.client  # type: ignore[union-attr]
    client.set(name, ring.seal("", _CONTEXT + name.encode(), token.encode()), ex=lifetime)
    return True


# Serving old cookies.


class _Bridge:
    """WSGI middleware: serve a Flask-Session cookie as the session it was migrated to."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        # A weak reference: the app holds this middleware, and must still be
        # freed when its last reference goes.
        self._app = weakref.ref(app)
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Any:
        header = environ.get("HTTP_COOKIE")
        app = self._app()
        if header and app is not None:
            try:
                environ = self._bridge(app, environ, header)
            except STORE_ERRORS:
                interface = t.cast(HybridSessionInterface, app.session_interface)
                unavailable = ServiceUnavailable(retry_after=interface.settings.retry_after)
                return unavailable(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _bridge(self, app: Flask, environ: WSGIEnvironment, header: str) -> WSGIEnvironment:
        interface = redis_interface(app)
        name = interface.get_cookie_name(app)
        value = parse_cookie(header).get(name)
        found = LEGACY_COOKIE.fullmatch(value or "")
        if value is None or found is None or value.startswith("v1."):
            return environ
        token = self._token(app, interface, found.group(1))
        if token is None:
            return environ
        # Both values are cookie-safe characters only: a plain replacement.
        rewritten = re.sub(
            rf"(^|;\s*){re.escape(name)}={re.escape(value)}(?=;|$)",
            lambda m: f"{m.group(1)}{name}={token}",
            header,
        )
        return {**environ, "HTTP_COOKIE": rewritten, ENVIRON_KEY: True}

    def _token(self, app: Flask, interface: HybridSessionInterface, old_sid: str) -> str | None:
        backend = t.cast("t.Any", interface.backend)
        name = bridge_key(interface.settings.key_prefix, old_sid)
        # The first use shortens the bridge to a grace period: the browser
        # gets the new cookie in this response, and requests it sent in
        # parallel with the old cookie still find their session. One trip.
        pipe = backend.client.pipeline(transaction=False)
        pipe.get(name)
        pipe.expire(name, BRIDGE_GRACE_SECONDS)
        blob, _ = pipe.execute()
        if not blob:
            return None
        ring: KeyRing = _context(app, interface).ring
        try:
            token, _ = ring.open("", _CONTEXT + name.encode(), blob)
        except DecryptError:
            return None
        return token.decode()


def _resend_credential(response: t.Any) -> t.Any:
    """Mark a bridged session changed, so its response sets the new cookie."""
    if request.environ.get(ENVIRON_KEY):
        current = session._get_current_object()  # type: ignore[attr-defined]
        if isinstance(current, HybridSessionData):
            current.modified = True
    return response


def accept_flask_session_cookies(app: Flask) -> None:
    """Serve Flask-Session cookies as the sessions they were migrated to.

    Call it after :meth:`~flask_hybridsession.HybridSession.init_app`. A
    request whose session cookie holds a Flask-Session sid that
    ``flask hybrid-session migrate-from-flask-session`` migrated opens the
    migrated session, and its response replaces the cookie with the new
    credential; the old cookie then works for one more minute, for the
    requests the browser sent in parallel. It costs one Redis round trip,
    only for requests whose cookie looks like Flask-Session's; other
    requests pay nothing. An old cookie that was not
    migrated opens a fresh session, as any unknown credential does. Remove
    it once the migrated sessions have expired.

    :raises ConfigurationError: the app has no Redis (jwt mode without
        revocation).

    .. versionadded:: 0.1
    """
    redis_interface(app)
    app.wsgi_app = _Bridge(app, app.wsgi_app)  # type: ignore[method-assign]
    app.after_request(_resend_credential)
