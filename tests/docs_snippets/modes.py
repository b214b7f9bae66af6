"""docs/modes.md: one app, three configurations."""

from flask import Flask


def jwt_without_redis(app: Flask) -> None:
    # [jwt-stateless]
    app.config["HYBRID_SESSION_MODE"] = "jwt"
    app.config["HYBRID_SESSION_REVOCATION"] = False  # no Redis at all; no early logout
    # [end jwt-stateless]


def jwt_with_revocation(app: Flask, redis_url: str) -> None:
    # [jwt]
    app.config["HYBRID_SESSION_MODE"] = "jwt"
    app.config["HYBRID_SESSION_REDIS_URL"] = redis_url  # revocation lists only
    # [end jwt]


def server(app: Flask, redis_url: str) -> None:
    # [server]
    app.config["HYBRID_SESSION_MODE"] = "server"
    app.config["HYBRID_SESSION_REDIS_URL"] = redis_url
    # [end server]


def auto(app: Flask, redis_url: str) -> None:
    # [auto]
    app.config["HYBRID_SESSION_MODE"] = "auto"
    app.config["HYBRID_SESSION_REDIS_URL"] = redis_url
    app.config["HYBRID_SESSION_MAX_COOKIE_BYTES"] = 4000  # the default budget
    # [end auto]


# [pin]
from flask_login import login_user  # noqa: E402


def log_in(user, hybrid):
    login_user(user)
    if user.is_admin:
        # Ending an administrator's session deletes all there is of it.
        hybrid.pin()


# [end pin]
