"""The cart: in the session while shopping, saved per user across devices.

The session holds ``cart = {"<product id>": quantity}``. A logged-in user's
cart is also saved (in the app's Redis when there is one, else in memory), so
a guest cart merges into it at login and it follows the user to a new device.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import typing as t

from flask import current_app
from flask import session

from .catalog import Catalog
from .catalog import Product

MAX_QUANTITY = 99


@dataclasses.dataclass(slots=True)
class Line:
    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity

    @property
    def total(self) -> str:
        return f"{self.total_cents / 100:.2f}"


class SavedCarts:
    """Users' carts: a Redis key per user, or a dict when there is no Redis."""

    def __init__(self, client: t.Any | None) -> None:
        self._client = client
        self._memory: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def load(self, user_id: str) -> dict[str, int]:
        if self._client is None:
            with self._lock:
                return dict(self._memory.get(user_id, {}))
        raw = self._client.get(f"shop:cart:{user_id}")
        return t.cast(dict[str, int], json.loads(raw)) if raw else {}

    def save(self, user_id: str, cart: dict[str, int]) -> None:
        if self._client is None:
            with self._lock:
                self._memory[user_id] = dict(cart)
        elif cart:
            self._client.set(f"shop:cart:{user_id}", json.dumps(cart), ex=30 * 24 * 3600)
        else:
            self._client.delete(f"shop:cart:{user_id}")


def catalog() -> Catalog:
    return t.cast(Catalog, current_app.extensions["shop_catalog"])


def saved() -> SavedCarts:
    return t.cast(SavedCarts, current_app.extensions["shop_carts"])


def current() -> dict[str, int]:
    cart = session.get("cart")
    if not isinstance(cart, dict):
        return {}
    return {k: v for k, v in cart.items() if isinstance(v, int) and v > 0}


def store(cart: dict[str, int], user_id: str | None) -> None:
    """Put ``cart`` in the session (and in the user's saved cart)."""
    if cart:
        session["cart"] = cart
    else:
        session.pop("cart", None)
    if user_id is not None:
        saved().save(user_id, cart)


def add(product_id: int, quantity: int, user_id: str | None) -> None:
    cart = current()
    key = str(product_id)
    cart[key] = min(cart.get(key, 0) + quantity, MAX_QUANTITY)
    store(cart, user_id)


def set_quantity(product_id: int, quantity: int, user_id: str | None) -> None:
    cart = current()
    if quantity <= 0:
        cart.pop(str(product_id), None)
    else:
        cart[str(product_id)] = min(quantity, MAX_QUANTITY)
    store(cart, user_id)


def merge_at_login(user_id: str) -> None:
    """The guest cart joins the user's saved cart; quantities add up."""
    merged = saved().load(user_id)
    for key, quantity in current().items():
        merged[key] = min(merged.get(key, 0) + quantity, MAX_QUANTITY)
    store(merged, user_id)


def lines() -> list[Line]:
    found = []
    for key, quantity in current().items():
        product = catalog().get(int(key)) if key.isdigit() else None
        if product is not None:
            found.append(Line(product, quantity))
    return found


def count() -> int:
    return sum(current().values())


def total(cart_lines: list[Line]) -> str:
    return f"{sum(line.total_cents for line in cart_lines) / 100:.2f}"
