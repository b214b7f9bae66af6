"""The shop's products: a dozen, with a price in cents and a stock count."""

from __future__ import annotations

import dataclasses
import threading


@dataclasses.dataclass(slots=True)
class Product:
    id: int
    name: str
    price_cents: int
    stock: int
    emoji: str
    description: str

    @property
    def price(self) -> str:
        return f"{self.price_cents / 100:.2f}"


def _products() -> dict[int, Product]:
    rows = [
        ("Espresso beans, 1 kg", 2490, "☕", "Dark roast, chocolate and cherry."),
        ("Green tea, 100 g", 890, "🍵", "Sencha from Shizuoka, first flush."),
        ("Sourdough loaf", 550, "🍞", "Baked this morning, crisp crust."),
        ("Aged cheddar, 250 g", 720, "🧀", "Eighteen months, crumbly and sharp."),
        ("Honey, 500 g", 1150, "🍯", "Wildflower honey from the valley."),
        ("Olive oil, 750 ml", 1690, "🫒", "Cold pressed, peppery finish."),
        ("Dark chocolate bar", 390, "🍫", "72 % cocoa, a pinch of sea salt."),
        ("Apples, 1 kg", 420, "🍎", "Crisp, sweet, from the orchard."),
        ("Avocados, 2 pack", 380, "🥑", "Ready to eat in two days."),
        ("Croissant", 240, "🥐", "All butter, flaky layers."),
        ("Strawberries, 500 g", 650, "🍓", "Picked yesterday."),
        ("Sparkling water, 6 pack", 490, "💧", "Natural mineral water."),
    ]
    return {
        i: Product(i, name, price, 25, emoji, text)
        for i, (name, price, emoji, text) in enumerate(rows, start=1)
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
