"""docs/timeouts.md."""

from flask import Flask


def configure(app: Flask) -> None:
    # [config]
    from datetime import timedelta

    app.config["HYBRID_SESSION_IDLE_TIMEOUT"] = timedelta(minutes=30)
    app.config["HYBRID_SESSION_ABSOLUTE_TIMEOUT"] = timedelta(hours=12)
    # Only the cookie's Expires: the session itself ends as configured above.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=12)
    # [end config]


# [remember-browser]
from flask import session  # noqa: E402


def keep_me_signed_in():
    # A cookie with an Expires, so it outlives the browser; the timeouts
    # above still end the session.
    session.permanent = True


# [end remember-browser]
