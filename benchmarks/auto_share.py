"""How much Redis a mixed shop workload needs, auto against server.

Run: ``python -m benchmarks.auto_share``.

100 visitors: 90 keep a small cart (a few items), 10 a large one (about 3 KB,
past the cookie budget). Each makes 20 requests, 70 % reads and 30 % writes,
in a fixed pseudo-random order. Counted on the wire: requests that sent Redis
any command, and requests that wrote to it (a write script). Bounded: 2,000
requests per mode on 127.0.0.1.
"""

from __future__ import annotations

import random
import tempfile

import redis
from flask import Flask
from flask import session

from .wire import Wire
from .wire import session_app
from .wire import start_server


def build(mode: str, port: int) -> Flask:
    app = session_app(mode, port)
    app.add_url_rule("/cart", "cart", lambda: str(len(session.get("cart", []))))
    app.add_url_rule("/add/<int:size>", "add", _add, methods=["POST"])
    return app


def _add(size: int) -> str:
    session["cart"] = [*session.get("cart", []), "i" * size]
    return "ok"


def run(mode: str, port: int) -> dict[str, float]:
    app = build(mode, port)
    rng = random.Random(7)  # noqa: S311 - a fixed workload, not security
    stats = redis.Redis(port=port)
    memory_before = stats.info("memory")["used_memory"]
    clients = [(app.test_client(), 100 if n % 10 == 0 else 8) for n in range(100)]
    for client, size in clients:  # every visitor starts a cart: 3 KB for the large ones
        client.post(f"/add/{3000 if size == 100 else size}")
    requests = touched = wrote = 0
    for _ in range(20):
        for client, size in clients:
            trips, writes = Wire.trips, Wire.writes
            if rng.random() < 0.3:
                client.post(f"/add/{size}")
            else:
                client.get("/cart")
            requests += 1
            touched += Wire.trips > trips
            wrote += Wire.writes > writes
    keys = stats.dbsize()
    return {
        "requests": requests,
        "touched": touched / requests,
        "wrote": wrote / requests,
        "keys": keys,
        "memory_kb": (stats.info("memory")["used_memory"] - memory_before) / 1024,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(workdir)
        try:
            results = {}
            for mode in ("auto", "server"):
                redis.Redis(port=port).flushall()
                results[mode] = run(mode, port)
        finally:
            process.terminate()
            process.wait()
    print(
        "| mode | requests | touched Redis | wrote to Redis | keys in Redis | Redis memory used |"
    )
    print("|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['requests']:.0f} | {r['touched']:.0%} | {r['wrote']:.0%} |"
            f" {r['keys']:.0f} | {r['memory_kb']:.0f} KB |"
        )


if __name__ == "__main__":
    main()
