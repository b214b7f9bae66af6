"""The JSON API beside the pages: bearer credentials, never cookies.

- ``POST /api/login`` with ``X-Session-Token: new`` and ``{"username", "password"}``:
  the credential comes back in the ``X-Session-Token`` response header.
- ``GET /api/cart``, ``POST /api/cart`` (``{"product_id", "quantity"}``),
  ``DELETE /api/cart/<id>``, ``DELETE /api/cart`` with ``Authorization: Bearer``.
- ``POST /api/logout``.
"""

from __future__ import annotations

import typing as t

import flask_login
from flask import Blueprint
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import carts
from .accounts import authenticate

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify(error=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response, status


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return error(exc.code or 500, exc.description or exc.name)


@bp.before_request
def bearer_only() -> tuple[Response, int] | None:
    # The API takes bearer credentials, never the page's cookie: a cookie-
    # authenticated JSON endpoint would need the forms' CSRF check too.
    scheme = request.headers.get("Authorization", "").split(" ", 1)[0]
    if request.endpoint == "api.login" or scheme.lower() == "bearer":
        return None
    return error(401, "Send Authorization: Bearer <credential> (see /api/login).")


def _user_id() -> str:
    return t.cast(str, flask_login.current_user.get_id())


def _cart_body() -> dict[str, t.Any]:
    lines = carts.lines()
    return {
        "items": [
            {
                "product_id": line.product.id,
                "name": line.product.name,
                "quantity": line.quantity,
                "price_cents": line.product.price_cents,
            }
            for line in lines
        ],
        "total_cents": sum(line.total_cents for line in lines),
    }


@bp.post("/login")
def login() -> tuple[Response, int] | Response:
    if request.headers.get("X-Session-Token", "").lower() != "new":
        return error(400, "Send 'X-Session-Token: new' to receive a bearer credential.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "Send a JSON object with username and password.")
    user = authenticate(str(body.get("username", "")), str(body.get("password", "")))
    if user is None:
        return error(401, "Unknown user or wrong password.")
    flask_login.login_user(user)
    carts.merge_at_login(user.id)
    return jsonify(user=user.id, token_header="X-Session-Token")


@bp.get("/cart")
@flask_login.login_required
def get_cart() -> dict[str, t.Any]:
    return _cart_body()


@bp.post("/cart")
@flask_login.login_required
def add_to_cart() -> tuple[Response, int] | dict[str, t.Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "Send a JSON object with product_id and quantity.")
    product_id, quantity = body.get("product_id"), body.get("quantity", 1)
    if not isinstance(product_id, int) or not isinstance(quantity, int):
        return error(400, "product_id and quantity must be integers.")
    if not 1 <= quantity <= carts.MAX_QUANTITY:
        return error(400, f"quantity must be between 1 and {carts.MAX_QUANTITY}.")
    if carts.catalog().get(product_id) is None:
        return error(404, f"No product {product_id}.")
    carts.add(product_id, quantity, _user_id())
    return _cart_body()


@bp.delete("/cart/<int:product_id>")
@flask_login.login_required
def remove_from_cart(product_id: int) -> dict[str, t.Any]:
    carts.set_quantity(product_id, 0, _user_id())
    return _cart_body()


@bp.delete("/cart")
@flask_login.login_required
def empty_cart() -> dict[str, t.Any]:
    carts.store({}, _user_id())
    return _cart_body()


@bp.post("/logout")
@flask_login.login_required
def logout() -> dict[str, t.Any]:
    flask_login.logout_user()
    carts.store({}, None)  # the saved cart stays with the account
    return {"ok": True}
