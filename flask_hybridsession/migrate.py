"""Move live Flask-Session 0.8 sessions from Redis into this extension's server store.

``flask hybrid-session migrate-from-flask-session`` reads every
``<prefix><sid>`` key Flask-Session's Redis backend wrote (msgpack, or JSON
with ``SESSION_SERIALIZATION_FORMAT = "json"``), and saves each session through
the server store's own write path: encrypted fields, a new sid and token, and,
for a Flask-Login session, the user index, so ``revoke_user`` reaches it.
Pickled values (Flask-Session before 0.7) are refused, never unpickled: a
pickle can run code.

The browser still holds the Flask-Session cookie, whose value is the old sid.
For each migrated session the command stores a bridge entry,
``<HYBRID_SESSION_KEY_PREFIX>fs:<SHA-256 of the old sid>``, holding the new
token sealed under the key ring, with the migrated session's lifetime.
:func:`accept_flask_session_cookies` reads it: a request that brings an old
cookie is served as the migrated session, and its response carries the new
cookie. Redis holds no usable credential in the bridge either: its name is a
hash of the old sid and its value is encrypted. Its first use shortens it to
a minute's grace, for the requests the browser sent in parallel.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import re
import sys
import typing as t
import weakref

import click
import redis
from flask import Flask
from flask import current_app
from flask import request
from flask import session
from flask.cli import with_appcontext
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.http import parse_cookie

from .crypto import DecryptError
from .errors import ConfigurationError
from .interface import HybridSessionInterface
from .interface import serving
from .session import HybridSessionData
from .session import SessionState
from .stores.redis_client import STORE_ERRORS

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

    from .crypto import KeyRing
    from .stores.base import Context

#: A Flask-Session cookie: ``secrets.token_urlsafe`` output, and with
#: ``SESSION_USE_SIGNER`` an itsdangerous signature after a dot. Neither of
#: our formats (``v1.`` server tokens, three-part JWTs) matches it.
LEGACY_COOKIE: t.Final = re.compile(r"([A-Za-z0-9_-]{16,256})(?:\.[A-Za-z0-9_-]+)?")
#: How long a bridge entry lives after its first use.
BRIDGE_GRACE_SECONDS: t.Final = 60
#: Where the request's bridged credential is noted for the response.
ENVIRON_KEY: t.Final = "flask_hybridsession.bridged"
_CONTEXT: t.Final = b"flask-session|"


class Refused(Exception):
    """A stored value this command will not migrate; the message says why."""


def bridge_key(prefix: str, old_sid: str) -> str:
    """The bridge entry's name: a hash of the old sid, never the sid itself."""
    return f"{prefix}fs:{_digest(old_sid)}"


def _digest(old_sid: str) -> str:
    return hashlib.sha256(old_sid.encode()).hexdigest()


def _short(old_sid: str) -> str:
    """How a session is named in output: the old sid is a credential."""
    return _digest(old_sid)[:12]


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


@dataclasses.dataclass
class Summary:
    """What a run did, by outcome and reason."""

    migrated: int = 0
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def line(self, dry_run: bool) -> str:
        def detail(counts: collections.Counter[str]) -> str:
            if not counts:
                return ""
            return " (" + ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) + ")"

        skipped, refused = sum(self.skipped.values()), sum(self.refused.values())
        if dry_run:
            return (
                f"Dry run: would migrate {self.migrated}, skip {skipped}{detail(self.skipped)},"
                f" refuse {refused}{detail(self.refused)}; nothing was written."
            )
        return (
            f"Migrated {self.migrated}, skipped {skipped}{detail(self.skipped)},"
            f" refused {refused}{detail(self.refused)}."
        )

    def as_dict(self, dry_run: bool, refusals: t.Sequence[str] = ()) -> dict[str, t.Any]:
        """The run as ``--json`` prints it; a dry run's counts are what it would do."""
        return {
            "dry_run": dry_run,
            "migrated": self.migrated,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "refused": sum(self.refused.values()),
            "refused_by_reason": dict(sorted(self.refused.items())),
            "refusals": list(refusals),
        }


def _interface(app: Flask) -> HybridSessionInterface:
    found = serving(app)
    if found is None or found.backend is None:
        raise ConfigurationError(
            "HYBRID_SESSION_REVOCATION",
            "is off in jwt mode, so there is no Redis to migrate Flask-Session sessions"
            " into; set HYBRID_SESSION_MODE = 'server' or 'auto', or turn revocation on.",
        )
    return found


def _context(app: Flask, interface: HybridSessionInterface) -> Context:
    secrets = interface._secrets(app)
    if secrets is None:
        raise ConfigurationError("SECRET_KEY", "is not set; sessions cannot be encrypted.")
    return interface.context(app, secrets, "cookie")


def save_migrated(
    app: Flask, interface: HybridSessionInterface, data: dict[str, t.Any]
) -> tuple[str, int] | None:
    """Save ``data`` as a new server-side session through the store's write path.

    A Flask-Login session (``_user_id``) is saved as a login: indexed under
    its user, so ``sessions_for`` lists it and ``revoke_user`` ends it.

    :return: the new token and its lifetime in seconds, or None when the
        session could not be written.
    """
    ctx = _context(app, interface)
    backend = t.cast("t.Any", interface.backend)
    state = SessionState()
    current = HybridSessionData(data, state=state)
    current.modified = True
    user_id = data.get("_user_id")
    if user_id is not None:
        state.login = str(user_id)
        state.login_tag = interface.naming.tag(ctx, backend, state.login)
    issue = interface.server_store.save(ctx, current)
    if issue is None or issue.value is None or issue.expires is None:
        return None
    return issue.value, max(issue.expires - int(ctx.now), 1)


def migrate(
    app: Flask,
    source: redis.Redis,
    *,
    prefix: str = "session:",
    batch: int = 500,
    dry_run: bool = False,
    delete_old: bool = False,
    report: t.Callable[[str], None] = lambda message: None,
    progress: t.Callable[[int], None] = lambda done: None,
    keys: t.Sequence[bytes] | None = None,
) -> Summary:
    """Copy every Flask-Session session under ``prefix`` in ``source`` into ``app``'s store.

    A session already bridged (an earlier run) is skipped, so a run can be
    repeated. ``report`` receives one line per refused value, naming the
    session by a hash of its sid (the sid is a credential).

    :raises ConfigurationError: the app has no Redis to migrate into.
    :raises redis.RedisError: Redis is unavailable.
    """
    interface = _interface(app)
    client = interface.backend.client  # type: ignore[union-attr]
    key_prefix = interface.settings.key_prefix
    if keys is None:
        keys = list(source.scan_iter(match=_glob_escape(prefix) + "*", count=batch))
    summary = Summary()
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        sids = [key[len(prefix.encode()) :].decode("utf-8", "replace") for key in chunk]
        read = source.pipeline(transaction=False)
        for key in chunk:
            read.get(key)
        values = read.execute(raise_on_error=False)
        check = client.pipeline(transaction=False)
        for sid in sids:
            check.exists(bridge_key(key_prefix, sid))
        bridged = check.execute()
        for key, sid, raw, done in zip(chunk, sids, values, bridged, strict=True):
            outcome = _one(app, interface, client, key_prefix, sid, raw, done, dry_run)
            kind, _, reason = outcome.partition(":")
            if kind == "migrated":
                summary.migrated += 1
                if delete_old and not dry_run:
                    source.delete(key)
            elif kind == "skipped":
                summary.skipped[reason] += 1
            else:
                summary.refused[reason.partition(";")[0]] += 1
                report(f"refused session {_short(sid)}: {reason}.")
        progress(len(chunk))
    return summary


def _one(
    app: Flask,
    interface: HybridSessionInterface,
    client: t.Any,
    key_prefix: str,
    sid: str,
    raw: object,
    done: object,
    dry_run: bool,
) -> str:
    if done:
        return "skipped:already migrated"
    if raw is None:
        return "skipped:expired"
    if isinstance(raw, Exception) or not isinstance(raw, bytes):
        return "refused:not a string value"
    if not LEGACY_COOKIE.fullmatch(sid) or "." in sid:
        return "refused:not a Flask-Session id"
    try:
        data = decode(raw)
    except Refused as exc:
        return f"refused:{exc}"
    if not data.keys() - {"_permanent"}:
        return "skipped:empty"
    if dry_run:
        return "migrated"
    saved = save_migrated(app, interface, data)
    if saved is None:
        return "skipped:expired"
    token, lifetime = saved
    ring = _context(app, interface).ring
    name = bridge_key(key_prefix, sid)
    client.set(name, ring.seal("", _CONTEXT + name.encode(), token.encode()), ex=lifetime)
    return "migrated"


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


# Serving old cookies.


class _Bridge:
    """WSGI middleware: serve a Flask-Session cookie as the session it was migrated to."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        # A weak reference: the app holds this middleware, and must still be
        # freed when its last reference goes.
        self._app = weakref.ref(app)
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Any:
        header = environ.get("HTTP_COOKIE")
        app = self._app()
        if header and app is not None:
            try:
                environ = self._bridge(app, environ, header)
            except STORE_ERRORS:
                interface = t.cast(HybridSessionInterface, app.session_interface)
                unavailable = ServiceUnavailable(retry_after=interface.settings.retry_after)
                return unavailable(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _bridge(self, app: Flask, environ: WSGIEnvironment, header: str) -> WSGIEnvironment:
        interface = _interface(app)
        name = interface.get_cookie_name(app)
        value = parse_cookie(header).get(name)
        found = LEGACY_COOKIE.fullmatch(value or "")
        if value is None or found is None or value.startswith("v1."):
            return environ
        token = self._token(app, interface, found.group(1))
        if token is None:
            return environ
        # Both values are cookie-safe characters only: a plain replacement.
        rewritten = re.sub(
            rf"(^|;\s*){re.escape(name)}={re.escape(value)}(?=;|$)",
            lambda m: f"{m.group(1)}{name}={token}",
            header,
        )
        return {**environ, "HTTP_COOKIE": rewritten, ENVIRON_KEY: True}

    def _token(self, app: Flask, interface: HybridSessionInterface, old_sid: str) -> str | None:
        backend = t.cast("t.Any", interface.backend)
        name = bridge_key(interface.settings.key_prefix, old_sid)
        # The first use shortens the bridge to a grace period: the browser
        # gets the new cookie in this response, and requests it sent in
        # parallel with the old cookie still find their session. One trip.
        pipe = backend.client.pipeline(transaction=False)
        pipe.get(name)
        pipe.expire(name, BRIDGE_GRACE_SECONDS)
        blob, _ = pipe.execute()
        if not blob:
            return None
        ring: KeyRing = _context(app, interface).ring
        try:
            token, _ = ring.open("", _CONTEXT + name.encode(), blob)
        except DecryptError:
            return None
        return token.decode()


def _resend_credential(response: t.Any) -> t.Any:
    """Mark a bridged session changed, so its response sets the new cookie."""
    if request.environ.get(ENVIRON_KEY):
        current = session._get_current_object()  # type: ignore[attr-defined]
        if isinstance(current, HybridSessionData):
            current.modified = True
    return response


def accept_flask_session_cookies(app: Flask) -> None:
    """Serve Flask-Session cookies as the sessions they were migrated to.

    Call it after :meth:`~flask_hybridsession.HybridSession.init_app`. A
    request whose session cookie holds a Flask-Session sid that
    ``flask hybrid-session migrate-from-flask-session`` migrated opens the
    migrated session, and its response replaces the cookie with the new
    credential; the old cookie then works for one more minute, for the
    requests the browser sent in parallel. It costs one Redis round trip,
    only for requests whose cookie looks like Flask-Session's; other
    requests pay nothing. An old cookie that was not
    migrated opens a fresh session, as any unknown credential does. Remove
    it once the migrated sessions have expired.

    :raises ConfigurationError: the app has no Redis (jwt mode without
        revocation).

    .. versionadded:: 0.1
    """
    _interface(app)
    app.wsgi_app = _Bridge(app, app.wsgi_app)  # type: ignore[method-assign]
    app.after_request(_resend_credential)


@click.command("migrate-from-flask-session")
@with_appcontext
@click.option(
    "--prefix",
    default="session:",
    show_default=True,
    help="Flask-Session's SESSION_KEY_PREFIX.",
)
@click.option(
    "--from-url",
    "from_url",
    default=None,
    help="URL of the Redis Flask-Session wrote to (default: this app's session Redis).",
)
@click.option(
    "--batch", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Keys a trip."
)
@click.option("--dry-run", is_flag=True, help="Read and classify every session; write nothing.")
@click.option(
    "--delete-old",
    is_flag=True,
    help="Delete each Flask-Session key once migrated (no way back to Flask-Session).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def migrate_command(
    prefix: str, from_url: str | None, batch: int, dry_run: bool, delete_old: bool, as_json: bool
) -> None:
    """Copy live Flask-Session 0.8 sessions from Redis into this extension.

    Reads msgpack or JSON values (pickle is refused), saves each session
    encrypted in the server store (a Flask-Login session indexed under its
    user), and bridges the old cookie to it: see accept_flask_session_cookies.
    Prints a summary line (with --json: an object with the counts, by reason,
    and one line per refused value). Exits with status 1 when a value was
    refused.
    """
    app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        interface = _interface(app)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    source = (
        redis.Redis.from_url(from_url)
        if from_url
        else t.cast("redis.Redis", interface.backend.client)  # type: ignore[union-attr]
    )
    try:
        keys = list(source.scan_iter(match=_glob_escape(prefix) + "*", count=batch))
        refusals: list[str] = []
        # The bar goes to stderr: stdout keeps only the summary.
        with click.progressbar(length=len(keys), label="Migrating", file=sys.stderr) as bar:
            summary = migrate(
                app,
                source,
                prefix=prefix,
                batch=batch,
                dry_run=dry_run,
                delete_old=delete_old,
                report=refusals.append,
                progress=bar.update,
                keys=keys,
            )
    except STORE_ERRORS as exc:
        raise click.ClickException(f"Redis is unavailable: {type(exc).__name__}.") from None
    finally:
        if from_url:
            source.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(dry_run, refusals), indent=2, sort_keys=True))
    else:
        for line in refusals:
            click.echo(line, err=True)
        click.echo(summary.line(dry_run))
    if summary.refused:
        raise SystemExit(1)
