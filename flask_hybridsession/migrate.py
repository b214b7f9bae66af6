"""Move live Flask-Session 0.8 sessions from Redis into this extension's server store.

``flask hybrid-session migrate-from-flask-session`` reads every
``<prefix><sid>`` key Flask-Session's Redis backend wrote, saves each session
in the server store and bridges its old cookie to it; the app then serves old
cookies with :func:`accept_flask_session_cookies`. Three modules, one job
each, the arrows running one way:

- :mod:`.migrate_reader` reads Flask-Session's stored sessions (msgpack or
  JSON, the key layout, the pickle refusal); a leaf.
- :mod:`.migrate_bridge` turns one Flask-Session session into one of ours,
  and serves its old cookie at runtime; imports the reader and the
  interface, the session and the stores.
- this module is the command: its options, the run over the keys, the
  summary and ``--json``. It imports the reader and the bridge, and re-exports
  the names users and tests import from ``flask_hybridsession.migrate``.
  Only :mod:`.cli` imports it.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import typing as t

import click
import redis
from flask import Flask
from flask import current_app
from flask.cli import with_appcontext

from .errors import ConfigurationError
from .migrate_bridge import BRIDGE_GRACE_SECONDS as BRIDGE_GRACE_SECONDS
from .migrate_bridge import ENVIRON_KEY as ENVIRON_KEY
from .migrate_bridge import accept_flask_session_cookies as accept_flask_session_cookies
from .migrate_bridge import already_bridged
from .migrate_bridge import bridge_key as bridge_key
from .migrate_bridge import migrate_session
from .migrate_bridge import redis_interface
from .migrate_bridge import save_migrated as save_migrated
from .migrate_reader import LEGACY_COOKIE as LEGACY_COOKIE
from .migrate_reader import Refused as Refused
from .migrate_reader import Skipped
from .migrate_reader import decode as decode
from .migrate_reader import looks_like_pickle as looks_like_pickle
from .migrate_reader import read_session
from .migrate_reader import read_values
from .migrate_reader import scan_keys
from .migrate_reader import sid_hash
from .migrate_reader import sid_of
from .stores.redis_client import STORE_ERRORS

if t.TYPE_CHECKING:
    from .interface import HybridSessionInterface


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
    interface = redis_interface(app)
    if keys is None:
        keys = scan_keys(source, prefix, batch)
    summary = Summary()
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        sids = [sid_of(prefix, key) for key in chunk]
        values = read_values(source, chunk)
        bridged = already_bridged(interface, sids)
        for key, sid, raw, done in zip(chunk, sids, values, bridged, strict=True):
            try:
                _migrate_one(app, interface, sid, raw, done, dry_run)
            except Skipped as exc:
                summary.skipped[str(exc)] += 1
            except Refused as exc:
                summary.refused[str(exc).partition(";")[0]] += 1
                report(f"refused session {sid_hash(sid)[:12]}: {exc}.")
            else:
                summary.migrated += 1
                if delete_old and not dry_run:
                    source.delete(key)
        progress(len(chunk))
    return summary


def _migrate_one(
    app: Flask,
    interface: HybridSessionInterface,
    sid: str,
    raw: object,
    done: bool,
    dry_run: bool,
) -> None:
    """Migrate one stored session (a dry run only reads it), or say why not.

    :raises Skipped: already bridged, nothing to migrate, or expired.
    :raises Refused: a value :func:`read_session` will not read.
    """
    if done:
        raise Skipped("already migrated")
    data = read_session(sid, raw)
    if not dry_run and not migrate_session(app, interface, sid, data):
        raise Skipped("expired")


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
        interface = redis_interface(app)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    source = (
        redis.Redis.from_url(from_url)
        if from_url
        else t.cast("redis.Redis", interface.backend.client)  # type: ignore[union-attr]
    )
    try:
        keys = scan_keys(source, prefix, batch)
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
