"""A minimal app for ``make demo``: a visit counter and a stored value.

Run it with ``make demo`` (or ``python -m example_app``). The mode comes from
``HYBRID_SESSION_MODE`` in the environment; with no
``HYBRID_SESSION_REDIS_URL`` an embedded Redis is started.
"""

from __future__ import annotations

import os
import secrets
import typing as t

from flask import Flask
from flask import redirect
from flask import render_template_string
from flask import request
from flask import session
from flask import url_for
from werkzeug.wrappers import Response

from flask_hybridsession import HybridSession
from flask_hybridsession.session import HybridSessionData

PAGE = """<!doctype html>
<title>flask-hybridsession demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto}
code{background:#eee;padding:0 .3em}</style>
<h1>flask-hybridsession</h1>
<p>Mode: <code>{{ mode }}</code> &middot; session id: <code>{{ sid }}</code></p>
<p>You have visited this page
  <strong>{{ visits }}</strong> time{{ '' if visits == 1 else 's' }}.</p>
<form method="post" action="{{ url_for('store') }}">
  <label>Remember a note: <input name="note" value="{{ note }}" maxlength="200"></label>
  <button>Save</button>
</form>
<form method="post" action="{{ url_for('forget') }}"><button>Forget me</button></form>
"""


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
    """Build the demo app; ``config`` overrides the environment."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config["HYBRID_SESSION_MODE"] = os.environ.get("HYBRID_SESSION_MODE", "jwt")
    if os.environ.get("HYBRID_SESSION_REDIS_URL"):
        app.config["HYBRID_SESSION_REDIS_URL"] = os.environ["HYBRID_SESSION_REDIS_URL"]
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(app)
    HybridSession(app)

    @app.get("/")
    def index() -> str:
        current = t.cast(HybridSessionData, session)
        current["visits"] = current.get("visits", 0) + 1
        return render_template_string(
            PAGE,
            mode=app.config["HYBRID_SESSION_MODE"],
            sid=current.sid,
            visits=current["visits"],
            note=current.get("note", ""),
        )

    @app.post("/store")
    def store() -> Response:
        session["note"] = request.form.get("note", "")[:200]
        return redirect(url_for("index"))

    @app.post("/forget")
    def forget() -> Response:
        session.clear()
        return redirect(url_for("index"))

    return app
