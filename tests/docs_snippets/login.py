"""docs/flask-login.md: Flask-Login with nothing extension-specific to call."""

# [app]
from flask import Flask
from flask import request
from flask import session
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from flask_hybridsession import HybridSession

hybrid = HybridSession()
login_manager = LoginManager()

# Your user table.
PASSWORDS = {"alice": generate_password_hash("wonderland")}


class User(UserMixin):
    def __init__(self, user_id):
        self.id = user_id


@login_manager.user_loader
def load_user(user_id):
    return User(user_id) if user_id in PASSWORDS else None


def create_app(test_config=None):
    app = Flask(__name__)
    app.config["HYBRID_SESSION_MODE"] = "auto"
    app.config.from_prefixed_env()
    app.config.update(test_config or {})
    hybrid.init_app(app)
    login_manager.init_app(app)

    @app.post("/cart/<item>")
    def add_to_cart(item):
        session["cart"] = [*session.get("cart", []), item]
        return {"cart": session["cart"]}

    @app.post("/login")
    def login():
        name, password = request.form["name"], request.form["password"]
        if name not in PASSWORDS or not check_password_hash(PASSWORDS[name], password):
            return {"error": "wrong name or password"}, 401
        # When the response is saved the session gets a new id and token, the
        # guest's token is ended, and the guest's cart stays.
        login_user(User(name), remember=request.form.get("remember") == "on")
        return {"user": name}

    @app.post("/logout")
    @login_required
    def logout():
        logout_user()  # the session id rotates and the old one is ended
        return {"user": None}

    @app.get("/account")
    @login_required
    def account():
        return {"user": current_user.get_id(), "cart": session.get("cart", [])}

    return app


# [end app]
