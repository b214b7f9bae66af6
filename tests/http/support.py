"""What the HTTP suites share: the credential a client holds, replaying it, signals seen,
Redis keys, and routes that move a session between its token and Redis."""

from __future__ import annotations

import base64
import typing as t

from flask import Flask
from flask import current_app
from flask import session
from flask.testing import FlaskClient

from flask_hybridsession.session import HybridSessionData


def credential_of(client: FlaskClient) -> str:
    """The value of the session cookie ``client`` holds (its credential)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def replay(app: Flask, credential: str, path: str = "/me", bearer: bool = False) -> t.Any:
    """``credential`` presented by a new client of ``app``, as a cookie or a bearer token."""
    client = app.test_client()
    if bearer:
        return client.get(path, headers={"Authorization": f"Bearer {credential}"})
    client.set_cookie("session", credential)
    return client.get(path)


#: What :func:`record` saw, in order: (reason, sid, old_sid) of each signal.
EVENTS: list[tuple[str, str, str]] = []


def record(sender: Flask, **extra: t.Any) -> None:
    """A receiver for the session signals: appends to :data:`EVENTS`."""
    EVENTS.append((extra.get("reason") or "", str(extra.get("sid")), str(extra.get("old_sid"))))


def session_key(sid: str) -> str:
    """The Redis key of session ``sid``'s hash (the default key prefix)."""
    return f"hs:{{s:{sid}}}"


def server_sid(credential: str) -> str:
    """The sid a server token (``v1.``, then 48 bytes in base64url) carries: its first 16 bytes."""
    raw = base64.urlsafe_b64decode(credential[3:] + "=" * (-len(credential[3:]) % 4))
    return base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode()


def add_storage_routes(app: Flask) -> Flask:
    """``app`` with routes that size a session and say where it lives.

    ``POST /put/<key>/<size>`` stores ``size`` characters under ``key``, ``POST
    /drop/<key>`` removes it; ``POST /grow`` and ``/shrink`` add and remove 3,000
    (under ``big``: past the default cookie budget); ``POST /pin`` pins the
    session in Redis; ``GET /where`` answers its ``storage``, ``sid`` and ``keys``.
    """
    app.add_url_rule("/put/<key>/<int:size>", "put", _put, methods=["POST"])
    app.add_url_rule("/drop/<key>", "drop", _drop, methods=["POST"])
    app.add_url_rule("/grow", "grow", _grow, methods=["POST"])
    app.add_url_rule("/shrink", "shrink", _shrink, methods=["POST"])
    app.add_url_rule("/pin", "pin", _pin, methods=["POST"])
    app.add_url_rule("/where", "where", _where)
    return app


def _put(key: str, size: int) -> str:
    session[key] = "x" * size
    return "ok"


def _drop(key: str) -> str:
    session.pop(key, None)
    return "ok"


def _grow() -> str:
    session["big"] = "x" * 3000
    return "ok"


def _shrink() -> str:
    session.pop("big", None)
    return "ok"


def _pin() -> str:
    current_app.extensions["hybrid_session"].pin()
    return "ok"


def _where() -> dict[str, t.Any]:
    current = t.cast(HybridSessionData, session)
    return {"storage": current.storage, "sid": current.sid, "keys": sorted(current)}
