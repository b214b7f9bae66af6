"""The Flask ``SessionInterface``: the one place that reads and writes credentials.

A credential arrives in the session cookie or as ``Authorization: Bearer``
(the header wins; the two are never merged). Its format says how to open it:
a JWT, or a ``v1.`` server token. The configured mode says only how the
session is saved, so a token from another mode still opens and is re-issued.
"""

from __future__ import annotations

import functools
import logging
import re
import typing as t

from flask import current_app
from flask import g
from flask.sessions import SessionInterface
from werkzeug.http import dump_cookie

from . import login
from . import signals
from .crypto import log_id
from .errors import InvalidCredential
from .errors import StoreUnavailable
from .session import HybridSessionData
from .session import SessionState
from .session import UnavailableSession
from .stores.redis_client import STORE_ERRORS

if t.TYPE_CHECKING:
    from flask import Flask
    from flask import Request
    from flask import Response
    from flask.sessions import SessionMixin

    from .engine import SessionEngine
    from .serialization import SessionSerializer
    from .stores.base import Context
    from .stores.base import Issue
    from .stores.redis_client import RedisBackend

logger = logging.getLogger("flask_hybridsession")
security_log = logging.getLogger("flask_hybridsession.security")

#: The response header that carries a new credential to API clients.
TOKEN_HEADER: t.Final = "X-Session-Token"  # noqa: S105 - a header name
_TOKEN_ENVIRON: t.Final = "HTTP_X_SESSION_TOKEN"  # noqa: S105 - a header name
#: Where :func:`refuse_when_unavailable` finds a Redis failure of ``open_session``.
UNAVAILABLE: t.Final = "_hybrid_session_unavailable"
#: What werkzeug's dump_cookie writes without quotes (every credential of ours).
_UNQUOTED: t.Final = re.compile(r"[A-Za-z0-9._-]*")
_BEARER: t.Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr](?:[ \t]+(.*))?", re.DOTALL)


class HybridSessionInterface(SessionInterface):
    """Opens and saves :class:`~flask_hybridsession.session.HybridSessionData`.

    Installed as ``app.session_interface`` by
    :meth:`~flask_hybridsession.HybridSession.init_app`.
    """

    session_class = HybridSessionData

    def __init__(self, engine: SessionEngine) -> None:
        #: What opens and saves sessions: settings, Redis, keys, stores, clock.
        self.engine = engine
        #: The checked configuration.
        self.settings = engine.settings
        #: Length of a Set-Cookie header without its value, by attributes.
        self._cookie_rest: dict[tuple[t.Any, ...], int] = {}
        #: A session cookie's ``Set-Cookie`` value after ``name=value``, by attributes.
        self._cookie_tails: dict[tuple[t.Any, ...], str] = {}
        #: What a response that read the session varies on.
        self._vary_on = tuple(
            name
            for transport, name in (("cookie", "Cookie"), ("header", "Authorization"))
            if transport in engine.settings.transports
        )

    # The engine's parts, under the names apps and tests have used.

    @property
    def backend(self) -> RedisBackend | None:
        """The Redis operations, or None in jwt mode with revocation off."""
        return self.engine.backend

    @property
    def serializer(self) -> SessionSerializer:
        """Tagged JSON, as Flask's own session; ``serializer.register(...)`` adds types."""
        return self.engine.serializer

    @property
    def clock(self) -> t.Callable[[], float]:
        """The clock, Unix seconds; tests may replace it."""
        return self.engine.clock

    @clock.setter
    def clock(self, clock: t.Callable[[], float]) -> None:
        self.engine.clock = clock

    # Per-request values, read as Flask reads them.

    def context(self, app: Flask, secrets: tuple[bytes, ...], transport: str) -> Context:
        """The keys, clock and limits for one request, its cookie budget included."""
        if transport == "header":
            return self.engine.context(app.config, secrets)

        def size(value: str, expires: int | None) -> int:
            return self.cookie_size(app, value, expires)

        return self.engine.context(app.config, secrets, size)

    def cookie_size(self, app: Flask, value: str, expires: int | None) -> int:
        """The length of the ``Set-Cookie`` value that would carry ``value``."""
        name = self.get_cookie_name(app)
        attrs = self._attrs(app, expires)
        if not _UNQUOTED.fullmatch(value):
            # max_size=0: measuring must not trigger werkzeug's size warning.
            return len(dump_cookie(name, value, max_size=0, **attrs))
        # A credential of ours is never quoted, so the header is the value
        # plus a part that depends only on the attributes: measured once per
        # set of attributes (an Expires date is always 29 characters).
        key = (name, expires is None, *(v for k, v in attrs.items() if k != "expires"))
        rest = self._cookie_rest.get(key)
        if rest is None:
            attrs["expires"] = None if expires is None else 0
            rest = len(dump_cookie(name, "", max_size=0, **attrs))
            if len(self._cookie_rest) >= 64:
                self._cookie_rest.clear()
            self._cookie_rest[key] = rest
        return rest + len(value)

    def _attrs(self, app: Flask, expires: int | None) -> dict[str, t.Any]:
        return {
            "expires": expires,
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }

    def _credential(self, app: Flask, request: Request, state: SessionState) -> str | None:
        transports = self.settings.transports
        if "header" in transports:
            # Straight from the WSGI environ (one value per header name there;
            # a server joins repeated headers with commas, which no bearer
            # credential of ours contains): werkzeug's header view would walk
            # the whole environ per lookup.
            environ = request.environ
            authorization = environ.get("HTTP_AUTHORIZATION")
            if authorization is not None:
                bearer = _BEARER.fullmatch(authorization.strip())
                if bearer is not None:
                    state.presented.transport = "header"
                    return (bearer.group(1) or "").strip()
            if environ.get(_TOKEN_ENVIRON, "").strip().lower() == "new":
                state.presented.transport = "header"
                return None
        if "cookie" not in transports:
            state.presented.transport = "header"
            return None
        return _cookie(request, self.get_cookie_name(app)) or None

    # The SessionInterface contract.

    def open_session(
        self, app: Flask, request: Request
    ) -> HybridSessionData | UnavailableSession | None:
        secrets = self.engine.secrets(app.config)
        if secrets is None:
            return None  # Flask's NullSession, as with its own session
        state = SessionState()
        credential = self._credential(app, request, state)
        if credential is None:
            return self._opened(app, request, self.session_class(state=state), secrets)
        state.presented.value = credential
        ctx = self.context(app, secrets, state.presented.transport)
        try:
            data = self.engine.open(ctx, state, credential)
        except STORE_ERRORS as exc:
            logger.error("session store unavailable: %s: %s", type(exc).__name__, exc)
            setattr(g, UNAVAILABLE, type(exc).__name__)
            return UnavailableSession()
        except InvalidCredential as exc:
            where = f" (session {log_id(state.sid)})" if state.sid else ""
            security_log.info(
                "rejected a %s credential%s: %s", state.presented.transport, where, exc
            )
            state = SessionState.presenting(credential, state.presented.transport)
            state.presented.opened_with = (secrets, ctx)
            return self._opened(app, request, self.session_class(state=state), secrets)
        state.presented.opened_with = (secrets, ctx)
        return self._opened(app, request, self.session_class(data, state=state, new=False), secrets)

    def _opened(
        self, app: Flask, request: Request, current: HybridSessionData, secrets: tuple[bytes, ...]
    ) -> HybridSessionData | UnavailableSession:
        if not self._check_remember(app, request, current, secrets):
            setattr(g, UNAVAILABLE, "remember-me check")
            return UnavailableSession()
        return current

    def _check_remember(
        self, app: Flask, request: Request, current: HybridSessionData, secrets: tuple[bytes, ...]
    ) -> bool:
        """Refuse a Flask-Login remember cookie that has no current companion.

        :return: False when Redis could not be reached.
        """
        backend = self.backend
        if backend is None or not hasattr(app, "login_manager"):
            return True
        remember = login.remember_to_check(app, request, current)
        if remember is None:
            return True
        ctx = self.context(app, secrets, "cookie")

        def generation(user_id: str) -> int | None:
            return self.engine.user_proof(ctx, user_id)

        try:
            login.refuse_stale_remember(app, request, current, remember, ctx.ring, generation)
        except STORE_ERRORS as exc:
            logger.error("session store unavailable: %s: %s", type(exc).__name__, exc)
            return False
        return True

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, HybridSessionData):
            return
        state = session._state
        if session.accessed:
            _vary(response, self._vary_on)
        secrets = self.engine.secrets(app.config)
        if secrets is None:
            return
        ctx = self._save_context(app, secrets, state)
        sid_before, user_before = state.sid, state.user.id
        try:
            issue = self.engine.save(ctx, session)
        except STORE_ERRORS as exc:
            logger.error("session store unavailable: %s: %s", type(exc).__name__, exc)
            self._unavailable(response)
            return
        if issue is not None:
            self._emit(app, response, session, issue)
        if hasattr(app, "login_manager"):
            state = session._state
            login.set_companion(app, response, ctx.ring, state.user.id, state.user.generation)
        self._signal(app, session, issue, sid_before, user_before)

    def _save_context(self, app: Flask, secrets: tuple[bytes, ...], state: SessionState) -> Context:
        """The context the session was opened with, its clock read again; a new
        one when there was none (no credential came) or the secrets changed."""
        opened = state.presented.opened_with
        if opened is None or opened[0] != secrets:
            return self.context(app, secrets, state.presented.transport)
        ctx: Context = opened[1]
        ctx.now = self.engine.clock()
        return ctx

    def _signal(
        self,
        app: Flask,
        session: HybridSessionData,
        issue: Issue | None,
        sid_before: str | None,
        user_before: str | None,
    ) -> None:
        state = session._state
        user_id = state.user.id
        if state.due.ended or (state.due.logout and state.due.old_sid):
            ended = state.due.old_sid if state.due.logout and state.due.old_sid else sid_before
            reason = "logout" if state.due.logout else "cleared"
            signals.session_revoked.send(app, sid=ended, user_id=user_before, reason=reason)
            if state.due.ended:
                return
        if issue is None or issue.value is None:
            return
        if state.stored.origin is None:
            signals.session_created.send(app, sid=session.sid, user_id=user_id)
        elif state.due.old_sid and not state.due.logout:
            signals.session_rotated.send(
                app, sid=session.sid, old_sid=state.due.old_sid, user_id=user_id
            )

    def _emit(
        self, app: Flask, response: Response, session: HybridSessionData, issue: Issue
    ) -> None:
        state = session._state
        if state.presented.transport == "header":
            if issue.renewed:
                response.headers[TOKEN_HEADER] = issue.value or ""
                _no_store(response, private=False)
            return
        # A shared cache must never store and replay a session cookie.
        _no_store(response, private=True)
        name = self.get_cookie_name(app)
        if issue.value is None:
            attrs = self._attrs(app, None)
            del attrs["expires"]
            response.delete_cookie(name, **attrs)
        else:
            expires = issue.expires if session.permanent else None
            attrs = self._attrs(app, expires)
            header = self._cookie_header(name, issue.value, attrs) if expires is None else None
            if header is not None and len(header) <= response.max_cookie_size:
                response.headers.add("Set-Cookie", header)
            else:
                response.set_cookie(name, issue.value, **attrs)
        if not session.accessed:  # else save_session has added it
            _vary(response, ("Cookie",))

    def _cookie_header(self, name: str, value: str, attrs: dict[str, t.Any]) -> str | None:
        """The ``Set-Cookie`` value werkzeug's ``dump_cookie`` makes of a session
        cookie, from its attributes' part measured once; None for a value
        werkzeug would quote (never a credential of ours)."""
        if not _UNQUOTED.fullmatch(value) or not name.isascii():
            return None  # werkzeug quotes the value, or re-encodes the name
        key = (name, *attrs.values())
        tail = self._cookie_tails.get(key)
        if tail is None:
            tail = dump_cookie(name, "", max_size=0, **attrs)[len(name) + 1 :]
            if len(self._cookie_tails) >= 64:
                self._cookie_tails.clear()
            self._cookie_tails[key] = tail
        return f"{name}={value}{tail}"

    def _unavailable(self, response: Response) -> None:
        # Flask calls save_session outside its error handlers: rewrite the
        # response in place rather than raise into a 500.
        # Nothing of the view's response survives: no cookie, no Location,
        # no cache headers that would let a proxy keep the error.
        response.headers.clear()
        response.status_code = 503
        response.headers["Retry-After"] = str(self.settings.retry_after)
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.headers["Cache-Control"] = "no-store"
        response.set_data(b"The session store is unavailable. Please retry shortly.\n")


@functools.lru_cache(maxsize=16)
def _cookie_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|;)[ \t]*" + re.escape(name) + r"[ \t]*(?:=([^;]*))?(?:;|$)")


def _cookie(request: Request, name: str) -> str | None:
    """The value of the first cookie ``name``, as ``request.cookies.get(name)``.

    werkzeug would parse every cookie the browser sent: the ``Cookie``
    header is searched for this one instead. Whatever is not plainly a value
    of the credential alphabet (a quote anywhere, a space, another
    character) goes through werkzeug, so the answer is always werkzeug's.
    """
    if "cookies" in request.__dict__:
        return request.cookies.get(name)
    header = request.environ.get("HTTP_COOKIE")
    if not header:
        return None
    found = None if '"' in header else _cookie_pattern(name).search(header)
    if found is not None:
        value = (found.group(1) or "").strip(" \t")
        if _UNQUOTED.fullmatch(value):
            return value
    elif '"' not in header:
        return None
    return request.cookies.get(name)


def _vary(response: Response, names: tuple[str, ...]) -> None:
    """Add ``names`` to the response's ``Vary`` (werkzeug's header set is slow)."""
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = ", ".join(names)
        return
    present = {value.strip().lower() for value in current.split(",")}
    missing = [name for name in names if name.lower() not in present]
    if missing:
        response.headers["Vary"] = ", ".join([current, *missing])


def refuse_when_unavailable() -> None:
    """``before_request`` hook: answer 503 when ``open_session`` could not reach Redis.

    Reads the mark from :data:`flask.g`, never through :data:`flask.session`
    (touching the proxy would add ``Vary: Cookie``).
    """
    cause = g.get(UNAVAILABLE)
    if cause is not None:
        interface = t.cast(HybridSessionInterface, current_app.session_interface)
        raise StoreUnavailable(interface.settings.retry_after, cause=cause)


def serving(app: Flask) -> HybridSessionInterface | None:
    """The extension's interface on ``app``, or None where HybridSession is not set up."""
    found = app.session_interface
    return found if isinstance(found, HybridSessionInterface) else None


def real_app() -> Flask:
    """The current app itself, not the proxy: signal receivers filter on the sender."""
    return t.cast("Flask", current_app._get_current_object())  # type: ignore[attr-defined]


def _no_store(response: Response, *, private: bool) -> None:
    """Add ``no-store`` (and ``private``), dropping what would contradict it.

    ``public``, ``max-age`` and ``s-maxage`` that the view set would tell a
    cache it may keep what must not be kept.
    """
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private, no-store" if private else "no-store"
        return
    control = response.cache_control  # parsed: only when the view set one
    control.public = False
    control.max_age = None
    control.s_maxage = None
    if private:
        control.private = True
    control.no_store = True
