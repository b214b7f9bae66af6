"""Helpers for your own tests: where a session lives in Redis, and how to read it.

.. code-block:: python

    from flask_hybridsession.testing import redis_keys

    def test_logout_deletes_the_session(client, app, redis_client):
        client.post("/login")
        sid = client.get("/whoami").json["sid"]
        client.post("/logout")
        assert not redis_client.exists(redis_keys(app, sid).session)
"""

from __future__ import annotations

import dataclasses
import typing as t

from .interface import HybridSessionInterface
from .keys import KeyNames

if t.TYPE_CHECKING:
    from flask import Flask


@dataclasses.dataclass(frozen=True, slots=True)
class SessionKeys:
    """The Redis key names of one session."""

    #: The hash of a server-side session.
    session: str
    #: The sid's revocation mark.
    revoked: str


def interface(app: Flask) -> HybridSessionInterface:
    """The app's :class:`~flask_hybridsession.interface.HybridSessionInterface`.

    :raises TypeError: the extension is not set up on ``app``.
    """
    found = app.session_interface
    if not isinstance(found, HybridSessionInterface):
        raise TypeError("HybridSession(app) has not been set up on this app.")
    return found


def redis_keys(app: Flask, sid: str) -> SessionKeys:
    """The Redis key names of session ``sid`` under ``app``'s key prefix."""
    names = KeyNames(interface(app).settings.key_prefix)
    return SessionKeys(session=names.session(sid), revoked=names.revoked(sid))
