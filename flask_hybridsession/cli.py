"""The ``flask hybrid-session`` command group.

.. code-block:: text

    flask hybrid-session sessions USER_ID      # one line per live session
    flask hybrid-session revoke SID
    flask hybrid-session revoke-user USER_ID   # log out everywhere
    flask hybrid-session purge                 # drop stale index entries
    flask hybrid-session stats
    flask hybrid-session migrate-from-flask-session   # see flask_hybridsession.migrate

Every command but the migration takes ``--json`` for machine-readable output. Sids are shown
(they are not credentials); credentials never are.
"""

from __future__ import annotations

import json
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

from . import revocation
from .extension import real_app
from .interface import HybridSessionInterface
from .migrate import migrate_command

cli = AppGroup("hybrid-session", help="Inspect and revoke flask-hybridsession sessions.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
cli.add_command(migrate_command)


def _interface() -> HybridSessionInterface:
    found = current_app.session_interface
    if not isinstance(found, HybridSessionInterface):
        raise click.ClickException("HybridSession(app) is not set up on this app.")
    return found


def _out(as_json: bool, data: t.Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else text)


@cli.command("sessions")
@click.argument("user_id")
@json_option
def sessions_command(user_id: str, as_json: bool) -> None:
    """List USER_ID's live sessions."""
    found = revocation.sessions_for(_interface(), real_app(), user_id)
    rows = [
        {
            "sid": s.sid,
            "created_at": s.created_at.isoformat(timespec="seconds"),
            "last_seen": s.last_seen.isoformat(timespec="seconds"),
            "mode": s.mode,
            "user_agent": s.user_agent,
            "ip": s.ip,
        }
        for s in found
    ]
    lines = [
        f"{r['sid']}  {r['created_at']}  {r['last_seen']}  {r['mode']:<6}  "
        f"{r['user_agent'] or '-'}  {r['ip'] or '-'}"
        for r in rows
    ]
    _out(as_json, rows, "\n".join(lines) or f"No live sessions for {user_id}.")


@cli.command("revoke")
@click.argument("sid")
@json_option
def revoke_command(sid: str, as_json: bool) -> None:
    """End session SID wherever it lives."""
    ended = revocation.revoke(_interface(), real_app(), sid)
    _out(
        as_json,
        {"sid": sid, "revoked": ended},
        f"Revoked {sid}." if ended else f"{sid} is unknown or already ended.",
    )


@cli.command("revoke-user")
@click.argument("user_id")
@json_option
def revoke_user_command(user_id: str, as_json: bool) -> None:
    """Log USER_ID out everywhere."""
    count = revocation.revoke_user(_interface(), real_app(), user_id)
    _out(
        as_json,
        {"user_id": user_id, "revoked": count},
        f"Ended {count} session{'s' * (count != 1)} of {user_id}; older tokens are refused.",
    )


@cli.command("purge")
@json_option
def purge_command(as_json: bool) -> None:
    """Drop index entries of sessions that have ended."""
    dropped = revocation.purge(_interface(), real_app())
    _out(as_json, {"dropped": dropped}, f"Dropped {dropped} stale index entries.")


@cli.command("stats")
@json_option
def stats_command(as_json: bool) -> None:
    """Count live sessions by mode, indexed users and revocation entries."""
    interface = _interface()
    health = revocation.health(interface)
    counts: dict[str, t.Any] = {}
    if health["redis"] == "ok":
        counts = dict(revocation.stats(interface, real_app()))
    counts.update(mode=health["mode"], redis=health["redis"], latency_ms=health["latency_ms"])
    text = "\n".join(f"{name.replace('_', ' ')}: {value}" for name, value in sorted(counts.items()))
    _out(as_json, counts, text)
