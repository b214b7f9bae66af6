"""The peers' shop as a WSGI app for gunicorn: ``benchmarks.http_apps:make_app()``.

``benchmarks.http_load`` starts ``gunicorn 'benchmarks.http_apps:make_app()'``
with two environment variables:

- ``HS_BENCH_VARIANT``: a key of :data:`BUILDERS` (``A``, ``B``, ``jwt``...);
- ``HS_BENCH_REDIS_PORT``: the port of the redis-server on 127.0.0.1.

gunicorn loads the app in each worker (no ``--preload``), so every worker
builds its own Redis client after the fork.
"""

from __future__ import annotations

import os
import typing as t

import redis
from flask import Flask

from . import peers

VARIANT_ENV: t.Final = "HS_BENCH_VARIANT"
PORT_ENV: t.Final = "HS_BENCH_REDIS_PORT"


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port)


#: The cookie-carried variants of ``benchmarks.peers``. Not served: C, whose
#: token travels in a header the load generator does not keep, and the floor
#: 0, whose per-process dict is not shared by the workers.
BUILDERS: t.Final[dict[str, tuple[str, t.Callable[[int], Flask]]]] = {
    "A": ("A Flask cookie", lambda port: peers.flask_cookie_app()),
    "B": ("B Flask-Session", lambda port: peers.flask_session_app(_client(port), refresh=True)),
    "B2": (
        "B2 Flask-Session, no refresh",
        lambda port: peers.flask_session_app(_client(port), refresh=False),
    ),
    "jwt": ("ours jwt", lambda port: peers.ours_app("jwt", port)),
    "jwt-norev": (
        "ours jwt, revocation off",
        lambda port: peers.ours_app("jwt", port, HYBRID_SESSION_REVOCATION=False),
    ),
    "server": ("ours server", lambda port: peers.ours_app("server", port)),
    "auto": ("ours auto", lambda port: peers.ours_app("auto", port)),
}


def make_app() -> Flask:
    """The variant named by ``HS_BENCH_VARIANT``, on Redis at ``HS_BENCH_REDIS_PORT``."""
    variant = os.environ.get(VARIANT_ENV, "")
    if variant not in BUILDERS:
        raise RuntimeError(f"{VARIANT_ENV}={variant!r}; use one of {', '.join(BUILDERS)}")
    return BUILDERS[variant][1](int(os.environ.get(PORT_ENV, "6379")))
