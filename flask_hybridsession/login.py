"""The Flask-Login wiring: signals in, rotation and revocation out.

When a ``LoginManager`` is on the app: ``user_logged_in`` and
``user_loaded_from_cookie`` rotate the sid, end the old token and index the
session under the user; ``user_logged_out`` rotates and ends it. Receivers are
module-level functions, so blinker keeps them.

Remember-me: Flask-Login's ``remember_token`` is the user id and an HMAC, valid
for a year and blind to revocation. Beside it the extension sets a companion
cookie ``<REMEMBER_COOKIE_NAME>_hs`` with the user id and the user's
revocation generation, signed with our key. A remember cookie that comes
without a current companion is refused before Flask-Login reads it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import typing as t

from flask import request
from flask import session

from .session import HybridSessionData
from .tokens import b64decode
from .tokens import b64encode

if t.TYPE_CHECKING:
    from flask import Flask
    from flask import Request
    from flask import Response

    from .crypto import KeyRing

security_log = logging.getLogger("flask_hybridsession.security")

#: Suffix of the companion cookie's name.
COMPANION_SUFFIX: t.Final = "_hs"


def _current() -> HybridSessionData | None:
    # Only our interface opens a HybridSessionData: another app's session is
    # another class, so this also tells whether the extension serves the app.
    current = session._get_current_object()  # type: ignore[attr-defined]
    return current if isinstance(current, HybridSessionData) else None


def mark_login(current: HybridSessionData, user_id: str) -> None:
    """Make the save rotate the sid, end the old token and index ``user_id``."""
    agent = (request.user_agent.string or None) if request else None
    current._state.ask_login(user_id, agent, request.remote_addr if request else None)
    current.modified = True


def mark_logout(current: HybridSessionData) -> None:
    """Make the save rotate the sid, end the old token and drop it from the index."""
    current._state.ask_logout()
    current.modified = True


def on_logged_in(sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
    current = _current()
    if current is not None and "_user_id" in current:
        mark_login(current, str(current["_user_id"]))


def on_logged_out(sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
    current = _current()
    if current is not None:
        mark_logout(current)


def connect() -> bool:
    """Listen to Flask-Login's signals, once; False when it is not installed."""
    try:
        from flask_login import signals as login_signals
    except ImportError:
        return False
    login_signals.user_logged_in.connect(on_logged_in)
    login_signals.user_loaded_from_cookie.connect(on_logged_in)
    login_signals.user_logged_out.connect(on_logged_out)
    return True


# The companion cookie.


def remember_cookie_name(app: Flask) -> str:
    return str(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))


def remember_seconds(config: t.Mapping[str, t.Any]) -> int:
    """How long Flask-Login's remember cookie lives (the app's REMEMBER_COOKIE_DURATION)."""
    duration = config.get("REMEMBER_COOKIE_DURATION") or datetime.timedelta(days=365)
    if isinstance(duration, datetime.timedelta):
        return int(duration.total_seconds())
    return int(duration)


def companion_value(ring: KeyRing, user_id: str, generation: int) -> str:
    payload = b64encode(json.dumps([user_id, generation], separators=(",", ":")).encode())
    mac = hmac.new(ring.remember_keys[0], payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{b64encode(mac)}"


def read_companion(ring: KeyRing, value: str | None) -> tuple[str, int] | None:
    """The user id and generation of a companion cookie with a good signature."""
    if not value or len(value) > 1024 or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    try:
        given = b64decode(mac)
        if not any(
            hmac.compare_digest(hmac.new(k, payload.encode(), hashlib.sha256).digest()[:16], given)
            for k in ring.remember_keys
        ):
            return None
        user_id, generation = json.loads(b64decode(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(user_id, str) or not isinstance(generation, int):
        return None
    return user_id, generation


def remember_user_id(value: str) -> str | None:
    """The user id in Flask-Login's remember cookie (``<id>|<digest>``), unverified."""
    user_id, sep, _ = value.rpartition("|")
    return user_id if sep else None


def remember_to_check(app: Flask, request: Request, current: HybridSessionData) -> str | None:
    """The remember cookie Flask-Login would read for this request, or None.

    Only a request that brings one and whose session has no user yet needs
    :func:`refuse_stale_remember`.
    """
    remember = request.cookies.get(remember_cookie_name(app))
    if not remember or "_user_id" in current or current.get("_remember") == "clear":
        return None
    return remember


def refuse_stale_remember(
    app: Flask,
    request: Request,
    current: HybridSessionData,
    remember: str,
    ring: KeyRing,
    generation: t.Callable[[str], int | None],
) -> None:
    """Make Flask-Login skip a remember cookie that comes without a current companion.

    ``generation(user_id)`` is the user's generation in Redis, None when Redis
    holds none: lost proofs refuse the cookie (fail closed). Flask-Login
    skips its remember cookie when the session says ``_remember = "clear"``, and
    deletes it after the request.

    :raises redis.RedisError: Redis is unavailable.
    """
    companion = read_companion(
        ring, request.cookies.get(remember_cookie_name(app) + COMPANION_SUFFIX)
    )
    valid = companion is not None and companion[0] == remember_user_id(remember)
    if valid and companion is not None:
        valid = generation(companion[0]) == companion[1]
    if not valid:
        security_log.info("refused a remember-me cookie without a current companion")
        current["_remember"] = "clear"


def set_companion(
    app: Flask, response: Response, ring: KeyRing, user_id: str | None, generation: int
) -> None:
    """Set or clear the remember-me companion beside the remember cookie this response sets."""
    name = remember_cookie_name(app)
    prefix = name + "="
    for header in response.headers.getlist("Set-Cookie"):
        if not header.startswith(prefix):
            continue
        config = app.config
        attrs = {
            "domain": config.get("REMEMBER_COOKIE_DOMAIN"),
            "path": config.get("REMEMBER_COOKIE_PATH", "/"),
            "secure": config.get("REMEMBER_COOKIE_SECURE", False),
            "httponly": config.get("REMEMBER_COOKIE_HTTPONLY", True),
            "samesite": config.get("REMEMBER_COOKIE_SAMESITE"),
        }
        companion = name + COMPANION_SUFFIX
        if header.startswith(prefix + ";") or "Max-Age=0" in header or user_id is None:
            response.delete_cookie(companion, **attrs)
        else:
            value = companion_value(ring, user_id, generation)
            response.set_cookie(companion, value, max_age=remember_seconds(config), **attrs)
        return
