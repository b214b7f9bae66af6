"""The example shop: every feature of flask-hybridsession in a small cart app.

Run it with ``make demo`` (or ``python -m example_app``; ``PORT`` picks the
port). The mode comes from ``HYBRID_SESSION_MODE`` in the environment; with no
``HYBRID_SESSION_REDIS_URL`` an embedded Redis starts on first use.
"""

from __future__ import annotations

import datetime
import os
import secrets
import typing as t

import flask_login
from flask import Flask
from flask import jsonify
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from flask_hybridsession import HybridSession
from flask_hybridsession.interface import HybridSessionInterface

from . import api
from . import carts
from . import shop
from .accounts import load_user
from .catalog import ICONS
from .catalog import Catalog
from .csrf import csrf_token


def _secret_key(app: Flask) -> str:
    # A key kept in the instance folder, so a restart logs nobody out.
    path = os.path.join(app.instance_path, "secret_key")
    os.makedirs(app.instance_path, exist_ok=True)
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
            file.write(secrets.token_hex(32))
    with open(path) as file:
        return file.read().strip()


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """Build the shop; ``config`` overrides the environment."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config["HYBRID_SESSION_MODE"] = os.environ.get("HYBRID_SESSION_MODE", "jwt")
    if os.environ.get("HYBRID_SESSION_REDIS_URL"):
        app.config["HYBRID_SESSION_REDIS_URL"] = os.environ["HYBRID_SESSION_REDIS_URL"]
    app.config.update(
        REMEMBER_COOKIE_DURATION=datetime.timedelta(days=30),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(app)
    HybridSession(app)

    manager = flask_login.LoginManager(app)
    manager.login_view = "shop.login"
    manager.login_message = "Please log in to see that page."
    manager.user_loader(load_user)

    @manager.unauthorized_handler
    def unauthorized() -> Response | tuple[Response, int]:
        if request.blueprint == "api":
            return api.error(401, "Log in first: send Authorization: Bearer <credential>.")
        return redirect(url_for("shop.login", next=request.path))

    interface = t.cast(HybridSessionInterface, app.session_interface)
    client = interface.backend.client if interface.backend is not None else None
    app.extensions["shop_catalog"] = Catalog()
    app.extensions["shop_carts"] = carts.SavedCarts(client)
    app.register_blueprint(shop.bp)
    app.register_blueprint(api.bp)
    # What the templates' icon macro (_icons.html) draws.
    app.jinja_env.globals["shop_icons"] = ICONS

    @app.context_processor
    def shop_context() -> dict[str, t.Any]:
        return {
            "csrf_token": csrf_token,
            "cart_count": carts.count(),
            "mode": app.config["HYBRID_SESSION_MODE"],
            "storage": _storage(),
        }

    @app.errorhandler(HTTPException)
    def api_errors(exc: HTTPException) -> Response | HTTPException | tuple[Response, int]:
        # Unknown /api/ URLs never reach the blueprint: answer them in JSON too.
        if request.path.startswith("/api/"):
            message = "Not Found" if exc.code == 404 else exc.description or exc.name
            return api.error(exc.code or 500, message)
        return exc

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(ok=True)

    return app


def _storage() -> str:
    """Where the current session lives: its token ("jwt"), Redis ("server") or "new"."""
    current = session._get_current_object()  # type: ignore[attr-defined]
    return getattr(current, "storage", None) or "new"
