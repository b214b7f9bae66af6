"""The shop's products: a dozen, with a price in cents, a stock count and an icon."""

from __future__ import annotations

import dataclasses
import threading

from markupsafe import Markup

#: Small SVG drawings (a 32x32 view box) for the products and the cart, drawn
#: for this shop: no emoji (boxes where no emoji font is installed), no files.
#: The templates' ``icon`` macro (``_icons.html``) wraps one in an ``<svg>``.
ICONS: dict[str, Markup] = {
    name: Markup(shapes)  # noqa: S704 - constant markup written here
    for name, shapes in {
        "coffee": (
            '<g transform="rotate(30 16 16)"><ellipse cx="16" cy="16" rx="8.5" ry="12"'
            ' fill="#6f4e37"/><path d="M14 5c4 5-2 12 3 22" stroke="#3b2a1e"'
            ' stroke-width="2" fill="none" stroke-linecap="round"/></g>'
        ),
        "tea": (
            '<path d="M5 12h17v7a7 7 0 0 1-7 7h-3a7 7 0 0 1-7-7z" fill="#7cb342"/>'
            '<path d="M22 14h2a3 3 0 0 1 0 6h-2" stroke="#7cb342" stroke-width="2"'
            ' fill="none"/><path d="M11 4c-1.5 2 1.5 3 0 6M16 4c-1.5 2 1.5 3 0 6"'
            ' stroke="#9e9e9e" stroke-width="1.5" fill="none" stroke-linecap="round"/>'
        ),
        "bread": (
            '<path d="M3 23c0-8 6-13 13-13s13 5 13 13v2H3z" fill="#d7a35b"/>'
            '<path d="M10 15l3 4M15 13l3 4M20 15l3 4" stroke="#a86b2d" stroke-width="1.6"'
            ' stroke-linecap="round"/>'
        ),
        "cheese": (
            '<path d="M3 24L25 9l4 4v11z" fill="#f4b400"/><g fill="#c98e00">'
            '<circle cx="12" cy="21" r="1.8"/><circle cx="20" cy="19" r="1.3"/>'
            '<circle cx="24" cy="15" r="1.5"/></g>'
        ),
        "honey": (
            '<rect x="7" y="11" width="18" height="17" rx="4" fill="#f9a825"/>'
            '<rect x="9" y="5" width="14" height="6" rx="1.5" fill="#8d6e63"/>'
            '<path d="M12 19h8" stroke="#fff3c4" stroke-width="2.5" stroke-linecap="round"/>'
        ),
        "oil": (
            '<path d="M14 5h4v5l3 4v12a2 2 0 0 1-2 2h-6a2 2 0 0 1-2-2V14l3-4z"'
            ' fill="#9e9d24"/><rect x="13.5" y="3" width="5" height="3" rx="1"'
            ' fill="#5d4037"/><ellipse cx="16" cy="20" rx="3" ry="4" fill="#cddc39"/>'
        ),
        "chocolate": (
            '<rect x="7" y="4" width="18" height="24" rx="2" fill="#5d4037"/>'
            '<path d="M7 12h18M7 20h18M16 4v24" stroke="#3e2723" stroke-width="1.5"/>'
        ),
        "apple": (
            '<path d="M16 10c-3-2-10-2-10 6 0 6 4 11 7 11 1.5 0 2-1 3-1s1.5 1 3 1c3 0 7-5'
            ' 7-11 0-8-7-8-10-6z" fill="#e53935"/><path d="M16 10c0-3 1-5 3-6"'
            ' stroke="#5d4037" stroke-width="1.6" fill="none" stroke-linecap="round"/>'
            '<path d="M17 7c2-3 5-3 6-2-1 2-4 3-6 2z" fill="#43a047"/>'
        ),
        "avocado": (
            '<path d="M16 3c-4 0-6 6-8 11-2 6 2 14 8 14s10-8 8-14c-2-5-4-11-8-11z"'
            ' fill="#558b2f"/><path d="M16 8c-3 0-4.5 5-6 8.5-1.5 4.5 1.5 9 6 9s7.5-4.5'
            ' 6-9C20.5 13 19 8 16 8z" fill="#c5e1a5"/>'
            '<circle cx="16" cy="19.5" r="3.5" fill="#795548"/>'
        ),
        "croissant": (
            '<path d="M3 21c2-8 8-13 13-13s11 5 13 13c-3-2-5-2-6 0-2-3-4-4-7-4s-5 1-7'
            ' 4c-1-2-3-2-6 0z" fill="#e0a040"/><path d="M11 11l1.5 6M16 9v7.5M21 11l-1.5 6"'
            ' stroke="#b5762a" stroke-width="1.6" stroke-linecap="round"/>'
        ),
        "strawberry": (
            '<path d="M16 28c-6-4-10-9-10-14 0-3 3-5 10-5s10 2 10 5c0 5-4 10-10 14z"'
            ' fill="#e53935"/><path d="M9 9l3.5-4 3.5 3 3.5-3 3.5 4z" fill="#43a047"/>'
            '<g fill="#ffeb3b"><circle cx="12" cy="14" r="1"/><circle cx="16" cy="13" r="1"/>'
            '<circle cx="20" cy="14" r="1"/><circle cx="14" cy="18.5" r="1"/>'
            '<circle cx="18" cy="18.5" r="1"/><circle cx="16" cy="23" r="1"/></g>'
        ),
        "water": (
            '<path d="M16 3c-4 6-9 11-9 17a9 9 0 0 0 18 0c0-6-5-11-9-17z" fill="#29b6f6"/>'
            '<path d="M12 20a4 4 0 0 0 4 4" stroke="#e1f5fe" stroke-width="2" fill="none"'
            ' stroke-linecap="round"/>'
        ),
        "cart": (
            '<path d="M3 6h4l3 13h14l3-9H8.5" fill="none" stroke="currentColor"'
            ' stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round"/>'
            '<circle cx="12" cy="24.5" r="2" fill="currentColor"/>'
            '<circle cx="22" cy="24.5" r="2" fill="currentColor"/>'
        ),
    }.items()
}


@dataclasses.dataclass(slots=True)
class Product:
    id: int
    name: str
    price_cents: int
    stock: int
    #: The key of its drawing in :data:`ICONS`.
    icon: str
    description: str

    @property
    def price(self) -> str:
        return f"{self.price_cents / 100:.2f}"


def _products() -> dict[int, Product]:
    rows = [
        ("Espresso beans, 1 kg", 2490, "coffee", "Dark roast, chocolate and cherry."),
        ("Green tea, 100 g", 890, "tea", "Sencha from Shizuoka, first flush."),
        ("Sourdough loaf", 550, "bread", "Baked this morning, crisp crust."),
        ("Aged cheddar, 250 g", 720, "cheese", "Eighteen months, crumbly and sharp."),
        ("Honey, 500 g", 1150, "honey", "Wildflower honey from the valley."),
        ("Olive oil, 750 ml", 1690, "oil", "Cold pressed, peppery finish."),
        ("Dark chocolate bar", 390, "chocolate", "72 % cocoa, a pinch of sea salt."),
        ("Apples, 1 kg", 420, "apple", "Crisp, sweet, from the orchard."),
        ("Avocados, 2 pack", 380, "avocado", "Ready to eat in two days."),
        ("Croissant", 240, "croissant", "All butter, flaky layers."),
        ("Strawberries, 500 g", 650, "strawberry", "Picked yesterday."),
        ("Sparkling water, 6 pack", 490, "water", "Natural mineral water."),
    ]
    return {
        i: Product(i, name, price, 25, icon, text)
        for i, (name, price, icon, text) in enumerate(rows, start=1)
    }


class Catalog:
    """The products and their stock; checkout takes stock under a lock."""

    def __init__(self) -> None:
        self.products = _products()
        self._lock = threading.Lock()
        self._orders = 0

    def get(self, product_id: int) -> Product | None:
        return self.products.get(product_id)

    def place_order(self, lines: dict[int, int]) -> str | None:
        """Take the stock of every line; an order number, or None when short of stock."""
        with self._lock:
            if any(self.products[p].stock < qty for p, qty in lines.items()):
                return None
            for product_id, quantity in lines.items():
                self.products[product_id].stock -= quantity
            self._orders += 1
            return f"HS-{self._orders:05d}"
