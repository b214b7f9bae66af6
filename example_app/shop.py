"""The shop's pages: catalog, product, cart, checkout, login, devices."""

from __future__ import annotations

import typing as t

import flask_login
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.wrappers import Response

from flask_hybridsession import HybridSession
from flask_hybridsession.session import HybridSessionData

from . import carts
from .accounts import authenticate
from .csrf import check_csrf

bp = Blueprint("shop", __name__)
bp.before_request(check_csrf)


def hybrid() -> HybridSession:
    return t.cast(HybridSession, current_app.extensions["hybrid_session"])


def user_id() -> str | None:
    user = flask_login.current_user
    return t.cast(str, user.get_id()) if user.is_authenticated else None


def _quantity(raw: str | None, default: int = 1) -> int:
    try:
        value = int(raw if raw is not None else default)
    except ValueError:
        abort(400, description="The quantity must be a whole number.")
    if not 0 <= value <= carts.MAX_QUANTITY:
        abort(400, description=f"The quantity must be between 0 and {carts.MAX_QUANTITY}.")
    return value


@bp.get("/")
def catalog() -> str:
    return render_template("catalog.html", products=carts.catalog().products.values())


@bp.get("/product/<int:product_id>")
def product(product_id: int) -> str:
    found = carts.catalog().get(product_id)
    if found is None:
        abort(404)
    return render_template("product.html", product=found)


@bp.post("/cart/add/<int:product_id>")
def add(product_id: int) -> Response:
    found = carts.catalog().get(product_id)
    if found is None:
        abort(404)
    quantity = _quantity(request.form.get("quantity"))
    if quantity:
        carts.add(product_id, quantity, user_id())
        flash(f"Added {quantity} × {found.name} to your cart.")
    return redirect(request.form.get("next") or url_for("shop.cart"))


@bp.get("/cart")
def cart() -> str:
    lines = carts.lines()
    return render_template("cart.html", lines=lines, total=carts.total(lines))


@bp.post("/cart/update/<int:product_id>")
def update(product_id: int) -> Response:
    if carts.catalog().get(product_id) is None:
        abort(404)
    carts.set_quantity(product_id, _quantity(request.form.get("quantity")), user_id())
    return redirect(url_for("shop.cart"))


@bp.post("/cart/remove/<int:product_id>")
def remove(product_id: int) -> Response:
    carts.set_quantity(product_id, 0, user_id())
    return redirect(url_for("shop.cart"))


@bp.post("/checkout")
def checkout() -> Response | str:
    lines = carts.lines()
    if not lines:
        flash("Your cart is empty.")
        return redirect(url_for("shop.cart"))
    order = carts.catalog().place_order({line.product.id: line.quantity for line in lines})
    if order is None:
        flash("Sorry, some items just sold out. Please check your cart.")
        return redirect(url_for("shop.cart"))
    total = carts.total(lines)
    carts.store({}, user_id())
    return render_template("order.html", order=order, lines=lines, total=total)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash("Unknown user or wrong password.")
            return render_template("login.html"), 401  # type: ignore[return-value]
        # Flask-Login's login rotates the session id: the extension listens.
        flask_login.login_user(user, remember=request.form.get("remember") == "on")
        carts.merge_at_login(user.id)
        flash(f"Welcome, {user.name}.")
        return redirect(_safe_next() or url_for("shop.catalog"))
    return render_template("login.html")


def _safe_next() -> str | None:
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else None


@bp.post("/logout")
def logout() -> Response:
    flask_login.logout_user()
    session.pop("cart", None)
    flash("You are logged out.")
    return redirect(url_for("shop.catalog"))


@bp.get("/devices")
@flask_login.login_required
def devices() -> str:
    current = t.cast(HybridSessionData, session)
    found = hybrid().sessions_for(t.cast(str, user_id()))
    return render_template("devices.html", sessions=found, current_sid=current.sid)


@bp.post("/devices/<sid>/revoke")
@flask_login.login_required
def revoke(sid: str) -> Response:
    mine = {s.sid for s in hybrid().sessions_for(t.cast(str, user_id()))}
    if sid not in mine:
        abort(404)  # only the user's own sessions
    hybrid().revoke(sid)
    flash("That device is logged out.")
    return redirect(url_for("shop.devices"))


@bp.post("/devices/logout-all")
@flask_login.login_required
def logout_all() -> Response:
    count = hybrid().revoke_user(t.cast(str, user_id()))
    flask_login.logout_user()
    session.pop("cart", None)  # the saved cart stays with the account
    flash(f"Logged out everywhere ({count} session{'s' * (count != 1)}).")
    return redirect(url_for("shop.login"))
