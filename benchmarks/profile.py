"""Where a request's time goes: ``python -m benchmarks.profile``.

Runs the shop app of :mod:`benchmarks.peers` for a few variants under
:mod:`cProfile` (standard library, deterministic) and sums each function's own
time into buckets by where it lives: waiting on the Redis socket, redis-py and
hiredis, PyJWT, ``cryptography`` and ``hmac``/``hashlib``, JSON, Flask and
Werkzeug, this package, and the rest. cProfile adds a fixed cost to every
Python call, so Python-heavy buckets read high against C ones; the shares say
where to look, the per-request times of ``benchmarks.peers`` say how fast.

Bounded: N requests per variant and route (default 2,000), one local
redis-server on 127.0.0.1, stopped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import typing as t

from .peers import Variant
from .peers import checked
from .peers import prepare
from .peers import variants
from .wire import exit_on_sigterm
from .wire import start_server

#: (bucket, test on a function's file path), first match wins.
BUCKETS: t.Final[tuple[tuple[str, t.Callable[[str], bool]], ...]] = (
    ("socket wait (the Redis round trip)", lambda path: False),
    ("redis-py + hiredis", lambda path: "/redis/" in path),
    ("PyJWT", lambda path: "/jwt/" in path),
    ("cryptography, hmac, hashlib", lambda path: "/cryptography/" in path or "/hmac.py" in path),
    ("base64", lambda path: "/base64.py" in path),
    ("JSON", lambda path: "/json/" in path),
    ("flask-hybridsession", lambda path: "/flask_hybridsession/" in path),
    ("Flask", lambda path: "/flask/" in path),
    ("Werkzeug", lambda path: "/werkzeug/" in path),
    ("the benchmark app", lambda path: "/benchmarks/" in path),
)
#: Built-ins (no file), by a word of their name: which bucket they belong to.
BUILTINS: t.Final = (
    ("_socket.socket", "socket wait (the Redis round trip)"),
    ("select.", "socket wait (the Redis round trip)"),
    ("hiredis", "redis-py + hiredis"),
    ("cryptography", "cryptography, hmac, hashlib"),
    ("_hashlib", "cryptography, hmac, hashlib"),
    ("binascii", "base64"),
    ("_json", "JSON"),
)
OTHER: t.Final = "other (stdlib, builtins)"


def bucket(path: str, name: str) -> str:
    if path == "~":  # a built-in: only its name says where it belongs
        return next((label for word, label in BUILTINS if word in name), OTHER)
    return next((label for label, test in BUCKETS if test(path)), OTHER)


Top = list[tuple[float, str]]


def profile(variant: Variant, route: str, n: int, top: int) -> tuple[float, dict[str, float], Top]:
    """Seconds per request (under the profiler), per bucket, and the ``top`` functions."""
    call = variant.call(route)
    profiler = cProfile.Profile()
    profiler.enable()
    responses = [call() for _ in range(n)]
    profiler.disable()
    for response in responses:
        checked(response)  # a failing request would be profiled as if it were one
    stats = pstats.Stats(profiler)
    spent: dict[str, float] = {}
    functions: Top = []
    raw = t.cast(dict[tuple[str, int, str], tuple[int, int, float, float, t.Any]], stats.stats)  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, own, _cum, _callers) in raw.items():
        label = bucket(path, name)
        spent[label] = spent.get(label, 0.0) + own / n
        functions.append((own / n, f"{name} ({path.rsplit('/', 2)[-1]}:{_line})"))
    total = sum(spent.values())
    return total, spent, sorted(functions, reverse=True)[:top]


Result = tuple[str, str, float, dict[str, float], Top]


def table(results: list[Result]) -> str:
    labels = [label for label, _ in BUCKETS] + [OTHER]
    head = "| bucket | " + " | ".join(f"{key} {route}" for key, route, *_ in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for label in labels:
        cells = []
        for _key, _route, total, spent, _top in results:
            us = spent.get(label, 0.0) * 1e6
            cells.append(f"{us:.0f} µs ({100 * spent.get(label, 0.0) / total:.0f}%)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"**{total * 1e6:.0f} µs**" for _, _, total, _, _ in results)
    lines.append(f"| total (profiled) | {totals} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("-n", type=int, default=2000, help="requests per variant and route")
    parser.add_argument(
        "--variants",
        default="A,B2,jwt,jwt-norev,server",
        help="keys of benchmarks.peers variants (default: A,B2,jwt,jwt-norev,server)",
    )
    parser.add_argument("--routes", default="read,write", help="read, write or both")
    parser.add_argument(
        "--top", type=int, default=0, help="also list each cell's N costliest functions"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 100_000:
        sys.exit("-n must be between 1 and 100000")
    wanted = args.variants.split(",")
    routes = args.routes.split(",")
    exit_on_sigterm()
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(workdir)
        try:
            found, _notes = variants(port)
            chosen = [v for v in found if v.key in wanted]
            missing = set(wanted) - {v.key for v in chosen}
            if missing:
                sys.exit(f"no such variant: {', '.join(sorted(missing))}")
            results: list[Result] = []
            for variant in chosen:
                prepare(variant, min(args.n, 100))
                for route in routes:
                    total, spent, top = profile(variant, route, args.n, args.top)
                    results.append((variant.key, route, total, spent, top))
        finally:
            process.terminate()
            process.wait()
    print(f"cProfile, {args.n} requests per cell, own time per request by bucket:\n")
    print(table(results))
    for key, route, _total, _spent, top in results if args.top else ():
        print(f"\n{key} {route}:")
        for own, where in top:
            print(f"  {own * 1e6:6.1f} µs  {where}")


if __name__ == "__main__":
    main()
