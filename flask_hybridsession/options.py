"""One configuration option, and the small parsers that check its value.

:mod:`flask_hybridsession.config` lists every ``HYBRID_SESSION_*`` key as an
:class:`Option`. A parser takes the raw value and the app's config, returns
the checked value, and raises :class:`Invalid` with the rest of the message;
:meth:`Option.read` puts the key in front, so one parser serves many keys.
Options are read in table order, so a parser may read a key above its own as
already checked (the JWT keys read the algorithm).
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from .errors import ConfigurationError
from .redis_url import URL_FORMS
from .redis_url import url_problem

if t.TYPE_CHECKING:
    import redis

T = t.TypeVar("T")
#: The app's config, defaults already written back.
Config: t.TypeAlias = t.Mapping[str, t.Any]
#: ``parse(value, config) -> checked value``; raises :class:`Invalid`.
Parser: t.TypeAlias = t.Callable[[object, Config], T]

PREFIX: t.Final = "HYBRID_SESSION_"


class Invalid(ValueError):
    """A value a parser refuses: the message, after the key, says what was seen and the fix."""


@dataclasses.dataclass(frozen=True, slots=True)
class Option(t.Generic[T]):
    """One ``HYBRID_SESSION_*`` key: its default, its parser and its line in the docs."""

    #: The config key, such as ``HYBRID_SESSION_MODE``.
    key: str
    #: What ``init_app`` writes back when the app sets nothing.
    default: object
    #: Checks the value and returns what :class:`~flask_hybridsession.config.Settings` holds.
    parse: Parser[T]
    #: One paragraph for the configuration reference; `single backticks` mark code.
    doc: str
    #: The :class:`~flask_hybridsession.config.Settings` field, when not the key's own name.
    attribute: str = ""

    @property
    def field(self) -> str:
        """The Settings field: ``HYBRID_SESSION_IDLE_TIMEOUT`` is ``idle_timeout``."""
        return self.attribute or self.key.removeprefix(PREFIX).lower()

    def read(self, config: Config) -> T:
        """The checked value of this option in ``config``.

        :raises ConfigurationError: the parser refused the value.
        """
        try:
            return self.parse(config[self.key], config)
        except Invalid as exc:
            message = str(exc)
        # Raised outside the except block, so no Invalid rides along as its
        # context: the message is the whole story, and a traceback that
        # repeats it must not carry the value (a Redis URL holds a password).
        raise ConfigurationError(self.key, message)


def is_int(value: object) -> bool:
    """An int that is not a bool (``True`` is not a number of seconds)."""
    return isinstance(value, int) and not isinstance(value, bool)


def optional(parse: Parser[T]) -> Parser[T | None]:
    """``None``, or what ``parse`` accepts."""

    def parse_optional(value: object, config: Config) -> T | None:
        return None if value is None else parse(value, config)

    return parse_optional


def one_of(choices: tuple[T, ...], fix: str) -> Parser[T]:
    """One of ``choices``, exactly (a list of them is refused too)."""

    def parse_choice(value: object, config: Config) -> T:
        if value not in choices:
            raise Invalid(f"is {value!r}; {fix}")
        return value

    return parse_choice


def subset(choices: frozenset[T], fix: str) -> Parser[frozenset[T]]:
    """A non-empty subset of ``choices``; one str stands for itself."""

    def parse_subset(value: object, config: Config) -> frozenset[T]:
        if isinstance(value, str):
            value = (value,)
        try:
            found: frozenset[object] = frozenset(t.cast(t.Iterable[object], value))
        except TypeError:
            found = frozenset()
        if not found or not found <= choices:
            raise Invalid(f"is {value!r}; {fix}")
        return t.cast(frozenset[T], found)

    return parse_subset


def flag(value: object, config: Config) -> bool:
    """``True`` or ``False``, not merely truthy."""
    if not isinstance(value, bool):
        raise Invalid(f"is {value!r}; use True or False.")
    return value


def whole_number(low: int, high: int, fix: str) -> Parser[int]:
    """An int from ``low`` to ``high``; a bool is refused."""

    def parse_number(value: object, config: Config) -> int:
        if not is_int(value) or not low <= t.cast(int, value) <= high:
            raise Invalid(f"is {value!r}; {fix}")
        return t.cast(int, value)

    return parse_number


def auto_or(parse: Parser[int], fix: str) -> Parser[int | t.Literal["auto"]]:
    """``"auto"``, or what ``parse`` accepts."""

    def parse_auto(value: object, config: Config) -> int | t.Literal["auto"]:
        if value == "auto":
            return "auto"
        if isinstance(value, str):
            raise Invalid(f"is {value!r}; {fix}")
        return parse(value, config)

    return parse_auto


def seconds(high: int, fix: str) -> Parser[int]:
    """Whole seconds from 1 to ``high``, as an int or a :class:`~datetime.timedelta`."""
    parse_number = whole_number(1, high, fix)

    def parse_seconds(value: object, config: Config) -> int:
        if isinstance(value, datetime.timedelta):
            value = value.total_seconds()
            if value == int(value):
                value = int(value)
        return parse_number(value, config)

    return parse_seconds


def positive_number(high: float, fix: str) -> Parser[float]:
    """An int or float above 0 and at most ``high``, as a float."""

    def parse_positive(value: object, config: Config) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
            raise Invalid(f"is {value!r}; {fix}")
        return float(value)

    return parse_positive


def text(fix: str, *, allow_empty: bool = True, forbid: str = "") -> Parser[str]:
    """A str, non-empty unless ``allow_empty``, without any character of ``forbid``."""

    def parse_text(value: object, config: Config) -> str:
        if (
            not isinstance(value, str)
            or not (value or allow_empty)
            or any(char in value for char in forbid)
        ):
            raise Invalid(f"is {value!r}; {fix}")
        return value

    return parse_text


def secret_key(size: int, fix: str) -> Parser[bytes]:
    """Exactly ``size`` bytes; the message never shows them."""

    def parse_key(value: object, config: Config) -> bytes:
        if not isinstance(value, bytes) or len(value) != size:
            raise Invalid(fix)
        return value

    return parse_key


def key_ring(size: int, fix: str) -> Parser[tuple[bytes, ...]]:
    """A non-empty list of ``size``-byte keys (one bytes stands for itself); the first leads."""

    def parse_ring(value: object, config: Config) -> tuple[bytes, ...]:
        if isinstance(value, bytes):
            value = [value]
        if (
            not isinstance(value, list | tuple)
            or not value
            or any(not isinstance(key, bytes) or len(key) != size for key in value)
        ):
            raise Invalid(fix)
        return tuple(value)

    return parse_ring


def pem(value: object, config: Config) -> bytes:
    """A PEM-encoded key, str or bytes, as bytes; its content is checked where it is loaded."""
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes) or b"-----BEGIN" not in value:
        raise Invalid("must be a PEM-encoded key (str or bytes).")
    return value


def pem_list(value: object, config: Config) -> tuple[bytes, ...]:
    """PEM keys: one, a list of them, or nothing (``None`` or empty)."""
    if isinstance(value, str | bytes):
        value = [value]
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise Invalid(f"is {type(value).__name__}; give a PEM key or a list of PEM keys.")
    return tuple(pem(key, config) for key in value)


def redis_url(value: object, config: Config) -> str:
    """A URL of :mod:`~flask_hybridsession.redis_url`'s grammar."""
    if not isinstance(value, str):
        raise Invalid("must be a str or None.")
    problem = url_problem(value)
    if problem is not None:
        # Never the URL itself, nor an exception that quotes it: it may hold a password.
        raise Invalid(f"{problem}; {URL_FORMS}")
    return value


def redis_client(value: object, config: Config) -> redis.Redis:
    """A redis-py client that answers bytes, as the session store reads and writes them."""
    if not hasattr(value, "pipeline"):
        raise Invalid(f"is {type(value).__name__}; give a redis-py client.")
    kwargs = getattr(getattr(value, "connection_pool", None), "connection_kwargs", None)
    if isinstance(kwargs, dict) and kwargs.get("decode_responses"):
        raise Invalid(
            "has decode_responses=True; build the client with decode_responses=False"
            " (the session store reads and writes bytes)."
        )
    return t.cast("redis.Redis", value)
