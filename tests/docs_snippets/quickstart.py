"""docs/quickstart.md."""

# [app]
from flask import Flask
from flask import session

from flask_hybridsession import HybridSession


def create_app(test_config=None):
    app = Flask(__name__)
    app.config["HYBRID_SESSION_MODE"] = "auto"  # "jwt" (default), "server" or "auto"
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY, FLASK_HYBRID_SESSION_REDIS_URL...
    app.config.update(test_config or {})
    HybridSession(app)

    @app.post("/cart/<item>")
    def add_to_cart(item):
        session["cart"] = [*session.get("cart", []), item]
        return {"cart": session["cart"], "session_id": session.sid}

    return app


# [end app]
