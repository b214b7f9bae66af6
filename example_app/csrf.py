"""A per-session CSRF token for the shop's forms (SameSite=Lax is the first line).

The token lives in the session itself, so it works in every mode. Flask-WTF's
``CSRFProtect`` would do the same job; the shop needs no extra dependency.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort
from flask import request
from flask import session

SESSION_KEY = "_csrf"
FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's token, made on first use (templates call it in forms)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse a form POST whose token is missing or wrong (400)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get(SESSION_KEY)
    given = request.form.get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        abort(400, description="The form expired or did not come from this site. Reload and retry.")
