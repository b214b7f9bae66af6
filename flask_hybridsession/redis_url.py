"""The grammar of ``HYBRID_SESSION_REDIS_URL``: what is accepted, and why not.

A leaf: it knows redis-py's URL options and nothing of the rest of the package.
``redis://``, ``rediss://`` and ``unix://`` are read by redis-py itself (checked
here first, so a bad port is a clear message, not redis-py's ``ValueError``);
the ``+sentinel`` and ``+cluster`` forms, which redis-py does not read, are
parsed by :func:`parse_multi_host`. No message ever quotes the URL, so none
holds its password.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing as t
from urllib.parse import SplitResult
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

import redis

URL_SCHEMES: t.Final = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
#: The accepted forms of ``HYBRID_SESSION_REDIS_URL``, for error messages.
URL_FORMS: t.Final = (
    "use redis://, rediss://, unix:// (redis://[user:password@]host[:port][/db],"
    " unix://[user:password@]/path/to/socket[?db=N]),"
    " redis+sentinel://[user:password@]h1:p1,h2:p2/service_name[/db][?sentinel_password=...]"
    " or redis+cluster://[user:password@]h1:p1[,h2:p2...] (rediss+sentinel:// and"
    " rediss+cluster:// for TLS); percent-encode @ : / ? # in a user name or password."
)


class URLProblem(ValueError):
    """What is wrong with a Redis URL, in words of ours: never a part of the URL."""


#: What a URL starts with: its scheme and ``://``.
_SCHEME: t.Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_PORT: t.Final = re.compile(r"[0-9]{1,5}")
_DB: t.Final = re.compile(r"[0-9]{1,10}")
#: The highest db index Redis accepts (its ``databases`` setting is an int).
MAX_DB: t.Final = 2**31 - 1
#: What a query option's name may look like for the message to name it.
_OPTION_NAME: t.Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
#: The query options of a one-server URL that redis-py reads and that leave
#: the client working as the store needs it (bytes replies, our retry policy).
URL_OPTIONS: t.Final = frozenset(
    {
        "db",
        "username",
        "password",
        "client_name",
        "lib_name",
        "lib_version",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "socket_read_size",
        "health_check_interval",
        "max_connections",
        "protocol",
        "encoding",
        "encoding_errors",
    }
)
#: And those of a ``rediss://`` URL.
TLS_URL_OPTIONS: t.Final = URL_OPTIONS | {
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_ca_data",
    "ssl_check_hostname",
    "ssl_password",
    "ssl_ciphers",
    "ssl_min_version",
    "ssl_validate_ocsp",
    "ssl_validate_ocsp_stapled",
    "ssl_include_verify_flags",
    "ssl_exclude_verify_flags",
}


def normalised(url: str) -> str:
    """``url`` with its scheme in lower case: the scheme is case-blind (RFC 3986), and
    redis-py before 5.1 reads only a lower-case one."""
    start = _SCHEME.match(url)
    if start is None:
        return url
    return start.group(1).lower() + url[start.end(1) :]


def _split(url: str) -> SplitResult:
    # urlsplit's own errors quote the URL (its netloc holds the password):
    # raise ours, outside the except block, so no exception holds theirs.
    try:
        parts: SplitResult | None = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None:
        raise URLProblem(
            "cannot be split into its parts (an IPv6 host's brackets that do not match, or"
            " characters that change meaning under Unicode NFKC normalization)"
        )
    if parts.fragment or url.endswith("#"):
        raise URLProblem("has a '#' (percent-encode it as %23 in a user name or password)")
    return parts


def _port(text: str) -> int:
    port = int(text) if _PORT.fullmatch(text) else 0
    if not 1 <= port <= 65535:
        raise URLProblem("has a port that is not a number from 1 to 65535")
    return port


def _host_port(item: str, *, need_port: bool) -> tuple[str, int | None]:
    """Read ``host[:port]`` or ``[v6]:port``."""
    port: str | None = None
    if item.startswith("["):
        host, closed, rest = item[1:].partition("]")
        if not closed or "[" in host:
            raise URLProblem("has an IPv6 host without its closing ']'")
        if rest:
            if not rest.startswith(":"):
                raise URLProblem("has text after an IPv6 host's ']' (use [v6 address]:port)")
            port = rest[1:]
    else:
        if "[" in item or "]" in item:
            raise URLProblem("has a '[' or ']' outside an IPv6 host's brackets")
        host, colon, rest = item.partition(":")
        port = rest if colon else None
    if not host:
        raise URLProblem(
            "has an empty host (every host needs host:port)" if need_port else "has no host"
        )
    if port is None:
        if need_port:
            raise URLProblem("has a host without its port (every host needs host:port)")
        return host, None
    return host, _port(port)


def _db(text: str) -> int:
    db = int(text) if _DB.fullmatch(text) else -1
    if not 0 <= db <= MAX_DB:
        raise URLProblem(f"has a db that is not a number from 0 to {MAX_DB}")
    return db


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class MultiHostURL:
    """``redis+sentinel://`` or ``redis+cluster://``, which redis-py does not read."""

    kind: t.Literal["sentinel", "cluster"]
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    service: str
    db: int
    sentinel_password: str | None


def parse_multi_host(url: str) -> MultiHostURL:
    """Read ``redis[s]+sentinel://[user:pw@]h1:p1,h2:p2/service[/db][?sentinel_password=]``
    or ``redis[s]+cluster://[user:pw@]h1:p1[,h2:p2...]``.

    :raises URLProblem: the URL is not of that form (the message never holds it).
    """
    parts = _split(url)
    scheme, _, kind = parts.scheme.partition("+")
    if kind not in ("sentinel", "cluster") or scheme not in ("redis", "rediss"):
        raise URLProblem("is not a redis+sentinel:// or redis+cluster:// URL")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, port = _host_port(item, need_port=True)
        hosts.append((host, t.cast(int, port)))
    # /service_name[/db], a trailing slash allowed.
    path = parts.path.removesuffix("/").split("/")[1:] if parts.path not in ("", "/") else []
    service, db = "", 0
    if kind == "sentinel":
        if not 1 <= len(path) <= 2 or not path[0] or (len(path) == 2 and not path[1]):
            raise URLProblem("names no service (a sentinel URL names /service_name[/db])")
        service = unquote(path[0])
        if len(path) == 2:
            if not _DB.fullmatch(path[1]):
                raise URLProblem(
                    "has a db that is not a number (a sentinel URL names /service_name[/db])"
                )
            db = _db(path[1])
    elif parts.path:
        raise URLProblem("has a path (a cluster URL has no path: cluster db is 0)")
    query = parse_qs(parts.query)
    return MultiHostURL(
        kind=t.cast(t.Literal["sentinel", "cluster"], kind),
        tls=scheme == "rediss",
        hosts=tuple(hosts),
        username=username,
        password=password,
        service=service,
        db=db,
        sentinel_password=query.get("sentinel_password", [None])[0],
    )


def _check_one_server(url: str, scheme: str, parts: SplitResult) -> None:
    """A ``redis://``, ``rediss://`` or ``unix://`` URL: what redis-py reads, checked first."""
    hostport = parts.netloc.rpartition("@")[2]
    if scheme == "unix":
        if hostport:
            raise URLProblem("names a host (a unix socket URL is unix:///path/to/socket)")
        if parts.path in ("", "/"):
            raise URLProblem("names no socket (a unix socket URL is unix:///path/to/socket)")
    else:
        _host_port(hostport, need_port=False)
        if parts.path not in ("", "/"):
            _db(parts.path[1:])
    options = parse_qs(parts.query)
    allowed = TLS_URL_OPTIONS if scheme == "rediss" else URL_OPTIONS
    for name in options:
        if name == "decode_responses":
            raise URLProblem(
                "sets decode_responses (leave it out: the session store reads and writes bytes)"
            )
        if name not in allowed:
            named = repr(name) if _OPTION_NAME.fullmatch(name) else "a query option"
            raise URLProblem(f"has {named}, which is not an option of a {scheme}:// URL")
    # What redis-py itself makes of it: a value of the wrong type or range.
    problem = None
    try:
        pool = redis.ConnectionPool.from_url(normalised(url))
        kwargs = pool.connection_kwargs
        pool.connection_class(**kwargs)
    except Exception:  # redis-py's messages may quote the URL: never ours
        problem = "has a query option with a value redis-py refuses"
    if problem is not None:
        raise URLProblem(problem)
    for name in ("socket_timeout", "socket_connect_timeout"):
        value = kwargs.get(name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise URLProblem(f"has a {name} that is not a number of seconds above 0")
    if not 0 <= kwargs.get("db", 0) <= MAX_DB:
        raise URLProblem(f"has a db that is not a number from 0 to {MAX_DB}")
    for name in ("socket_read_size", "health_check_interval"):
        if kwargs.get(name, 1) < (name == "socket_read_size"):
            raise URLProblem(f"has a {name} below {int(name == 'socket_read_size')}")


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as ``HYBRID_SESSION_REDIS_URL``, or None when it is good.

    The answer never quotes the URL, so it never holds its password.
    """
    try:
        if any(char.isspace() or not char.isprintable() for char in url):
            raise URLProblem(
                "has spaces or control characters (percent-encode them in a user name or password)"
            )
        start = _SCHEME.match(url)
        if start is None:
            raise URLProblem("does not start with a scheme and ://")
        scheme = start.group(1).lower()
        if scheme not in URL_SCHEMES:
            raise URLProblem(f"has the scheme {scheme!r}")
        if "+" in scheme:
            parse_multi_host(url)
        else:
            _check_one_server(url, scheme, _split(url))
    except URLProblem as exc:
        return str(exc)
    return None
