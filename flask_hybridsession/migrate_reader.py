"""Read the sessions Flask-Session 0.8's Redis backend stored.

Flask-Session keeps each session under ``<SESSION_KEY_PREFIX><sid>``, its
value msgpack (the default) or JSON (``SESSION_SERIALIZATION_FORMAT =
"json"``), both written with msgspec; this module lists those keys, reads
them in batches and decodes each value as Flask-Session's own decoder does.
Pickled values (Flask-Session before 0.7) are refused, never unpickled: a
pickle can run code. The old sid is a credential, so it is named only by its
hash (:func:`sid_hash`) outside this module.

It knows Flask-Session's formats and nothing of this extension: it imports
no module of the package (a leaf), only the standard library, click,
redis for types, and msgspec when a value is decoded.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

import click

if t.TYPE_CHECKING:
    import redis

#: A Flask-Session cookie: ``secrets.token_urlsafe`` output, and with
#: ``SESSION_USE_SIGNER`` an itsdangerous signature after a dot. Neither of
#: our formats (``v1.`` server tokens, three-part JWTs) matches it.
LEGACY_COOKIE: t.Final = re.compile(r"([A-Za-z0-9_-]{16,256})(?:\.[A-Za-z0-9_-]+)?")


class Refused(Exception):
    """A stored value this command will not migrate; the message says why."""


class Skipped(Exception):
    """A stored session with nothing to migrate; the message is the reason."""


def sid_hash(sid: str) -> str:
    """The SHA-256 of a Flask-Session sid, in hex: a name for it that is no credential."""
    return hashlib.sha256(sid.encode()).hexdigest()


def looks_like_pickle(raw: bytes) -> bool:
    """Protocol 2+ pickles open with PROTO (0x80, 2..5); every pickle ends with STOP."""
    return (raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or (
        raw.endswith(b".") and raw[:1] in (b"(", b"}", b"]")
    )


def decode(raw: bytes) -> dict[str, t.Any]:
    """Flask-Session 0.8's msgpack or JSON, as its own decoder reads it.

    :raises Refused: a pickle, or anything that is not a session dict.
    """
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec comes with Flask-Session
        raise click.ClickException(
            "Reading Flask-Session data needs msgspec: pip install 'flask-hybridsession[migrate]'."
        ) from None
    data: object = None
    for decoder in (msgspec.msgpack.decode, msgspec.json.decode):
        try:
            data = decoder(raw)
            break
        except msgspec.DecodeError:
            continue
    else:
        if looks_like_pickle(raw):
            raise Refused(
                "a pickle (Flask-Session before 0.7); never unpickled, since a pickle can run"
                " code. Let these users sign in again, or re-save the sessions with"
                " Flask-Session 0.8 first"
            )
        raise Refused("neither msgpack nor JSON")
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise Refused(f"a {type(data).__name__}, not a session dict")
    return data


def read_session(sid: str, raw: object) -> dict[str, t.Any]:
    """The session stored under ``<prefix><sid>``, from the value a GET returned.

    :param raw: the value, None when the key expired after the scan, or the
        error Redis answered (a key that is no string).
    :raises Skipped: the key expired, or the session holds nothing but
        ``_permanent``.
    :raises Refused: no string value, a key whose suffix is no Flask-Session
        sid, or a value :func:`decode` refuses.
    """
    if raw is None:
        raise Skipped("expired")
    if isinstance(raw, Exception) or not isinstance(raw, bytes):
        raise Refused("not a string value")
    if not LEGACY_COOKIE.fullmatch(sid) or "." in sid:
        raise Refused("not a Flask-Session id")
    data = decode(raw)
    if not data.keys() - {"_permanent"}:
        raise Skipped("empty")
    return data


def scan_keys(source: redis.Redis, prefix: str, batch: int) -> list[bytes]:
    """Every key under ``prefix`` in ``source``, ``batch`` keys a SCAN step."""
    return list(source.scan_iter(match=_glob_escape(prefix) + "*", count=batch))


def sid_of(prefix: str, key: bytes) -> str:
    """The sid a key names: what follows the prefix."""
    return key[len(prefix.encode()) :].decode("utf-8", "replace")


def read_values(source: redis.Redis, keys: t.Sequence[bytes]) -> list[object]:
    """The values of ``keys``, in one round trip; a key's error is its value."""
    read = source.pipeline(transaction=False)
    for key in keys:
        read.get(key)
    return read.execute(raise_on_error=False)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
