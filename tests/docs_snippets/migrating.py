"""docs/migrating.md: before and after, for Flask-Session and Flask-JWT-Extended."""

from flask import Flask


def before_flask_session(app: Flask, redis_url: str) -> None:
    # [before-flask-session]
    import redis
    from flask_session import Session

    app.config["SESSION_TYPE"] = "redis"
    app.config["SESSION_REDIS"] = redis.Redis.from_url(redis_url)
    app.config["SESSION_KEY_PREFIX"] = "session:"
    app.config["PERMANENT_SESSION_LIFETIME"] = 7 * 24 * 3600
    Session(app)
    # [end before-flask-session]


def after_flask_session(app: Flask, redis_url: str) -> None:
    # [after-flask-session]
    from flask_hybridsession import HybridSession
    from flask_hybridsession.migrate import accept_flask_session_cookies

    app.config["HYBRID_SESSION_MODE"] = "server"  # or "auto"
    app.config["HYBRID_SESSION_REDIS_URL"] = redis_url
    app.config["PERMANENT_SESSION_LIFETIME"] = 7 * 24 * 3600
    HybridSession(app)
    accept_flask_session_cookies(app)  # until the migrated sessions have expired
    # [end after-flask-session]


# [api]
from flask import request  # noqa: E402
from flask import session  # noqa: E402


def register_api(app):
    @app.post("/api/login")
    def api_login():
        # Was: create_access_token(identity=name, additional_claims={...}).
        name = request.json["name"]  # check the password your way
        session["user"] = name
        session["roles"] = ["reader"]
        return {"user": name}  # the credential is in the X-Session-Token header

    @app.get("/api/me")
    def api_me():
        # Was: @jwt_required() and get_jwt_identity().
        if "user" not in session:
            return {"error": "log in first"}, 401
        return {"user": session["user"], "roles": session["roles"]}

    @app.post("/api/logout")
    def api_logout():
        # Was: a blocklist entry for the token's jti.
        app.extensions["hybrid_session"].logout()
        return {"user": None}


# [end api]
