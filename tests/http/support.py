"""What the HTTP suites share: the credential a client holds, replaying it, signals seen."""

from __future__ import annotations

import base64
import typing as t

from flask import Flask
from flask.testing import FlaskClient


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
