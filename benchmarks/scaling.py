"""How the cost grows: ``python -m benchmarks.scaling``.

Three figures, each against one redis-server of our own on 127.0.0.1:

(a) Per-request time as the session grows: the peers' shop (``benchmarks.peers``)
    with a cart of 100 B, 1 KB, 3 KB and 30 KB of JSON, for Flask's cookie (A),
    Flask-Session with Redis (B) and ours in jwt, server and auto mode. The
    skus are scrambled (a hash of the item number), so a cookie that compresses
    its payload gains no more than it would on real data. A cell whose session
    cannot travel in a cookie is reported as such, not measured: A's cookie
    over 4093 bytes (browsers drop it; Flask only warns), ours jwt refusing
    with ``SessionTooLarge`` over its 4000-byte budget. Same method as
    ``benchmarks.peers``: batches of N reads and N writes, every cell in a
    rotating order each repeat, medians, ratios within each repeat.

(b) Redis memory per live session and per revocation mark, at 100,000 of
    each. K of them (1,000) are created through the real path (a request
    through the test client with a new client each, or ``HybridSession.revoke``
    on a fresh sid), with the Redis client recording every command it sends.
    Those commands are then sent again, in pipelines, with each session and
    user id (the ``{s:<sid>}`` and ``{u:<tag>}`` hash tags, and the arguments
    equal to one) swapped for a fresh id of the same length, until there are
    100,000. Every other argument (sealed values, times, TTLs) goes as it was,
    so Redis runs the package's own scripts on arguments of the same sizes and
    builds the same objects. The replayed sessions are not sessions anyone can
    open (their sealed values are bound to the original sid). The first
    replayed copy is checked against the originals with ``MEMORY USAGE``: its
    total must be within 1 % (a hash's bucket array depends on where its
    incremental rehash stands, so single keys differ by a few dozen bytes
    between real sessions too), or the replay is not used and only the real
    ones are reported. Reported: ``INFO memory`` ``used_memory`` after minus
    before, divided by the count (so the key table's own growth is
    included), beside the same for the K real ones alone and the keys' own
    ``MEMORY USAGE``.

(c) ``revoke_user`` and ``sessions_for`` for one user with 1,000 sessions,
    logged in 1,000 times with Flask-Login through the test client, in jwt and
    in server mode. ``sessions_for`` reads and changes nothing here, so it runs
    several times on the same state; ``revoke_user`` ends everything, so the
    Redis state after the logins is DUMPed once and RESTOREd (after a
    ``FLUSHALL``) before each run. Median of the runs, in ms.

Bounded: fixed counts everywhere and a wall-clock budget checked between
steps.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
import typing as t
import warnings
from pathlib import Path

import redis
from flask import Flask
from flask import session

from flask_hybridsession.errors import SessionTooLarge

from . import peers
from .peers import PEERS_INSTALL
from .peers import USER_ID
from .peers import Shop
from .peers import Variant
from .wire import exit_on_sigterm
from .wire import start_server

SIZES: t.Final = (100, 1_000, 3_000, 30_000)
SIZE_LABELS: t.Final = {100: "100 B", 1_000: "1 KB", 3_000: "3 KB", 30_000: "30 KB"}
#: Flask (Werkzeug) warns above this cookie size; browsers drop larger cookies.
BROWSER_COOKIE_LIMIT: t.Final = 4093
TOO_LARGE: t.Final = "n/a (too large for a cookie)"
#: The variants of (a), in table order.
SIZE_VARIANTS: t.Final = ("A", "B", "jwt", "server", "auto")
LABELS: t.Final = {
    "A": "A Flask cookie",
    "B": "B Flask-Session",
    "jwt": "ours jwt",
    "server": "ours server",
    "auto": "ours auto",
}
#: How far the replayed copy's total MEMORY USAGE may be from the originals'.
#: Per key it varies between any two real sessions too (a hashtable-encoded
#: hash's bucket array depends on where its incremental rehash stands).
REPLAY_TOLERANCE: t.Final = 0.01
_HASH_TAG: t.Final = re.compile(rb"\{([su]):([^}]*)\}")


@dataclasses.dataclass(frozen=True)
class Plan:
    n: int
    repeats: int
    real: int
    total: int
    user_sessions: int
    runs: int
    budget: float


FULL: t.Final = Plan(300, 5, 1_000, 100_000, 1_000, 5, 900.0)
QUICK: t.Final = Plan(100, 3, 1_000, 20_000, 300, 3, 300.0)
SMOKE: t.Final = Plan(10, 1, 100, 1_000, 30, 2, 60.0)


class OutOfTime(RuntimeError):
    """The wall-clock budget ran out."""


@dataclasses.dataclass
class Clock:
    deadline: float

    def check(self, step: str) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime(f"time budget spent during {step}")


def client_for(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port)


# (a) Per-request time as the session grows.


def payload_bytes(shop: Shop) -> int:
    """The session's data as compact JSON: the user id and the cart."""
    data = {"user_id": USER_ID, "cart": shop.full_cart()}
    return len(json.dumps(data, separators=(",", ":")))


def shop_of(size: int) -> Shop:
    """The shop whose full session is the first at least ``size`` bytes of JSON."""
    for items in range(1, 10_000):
        shop = Shop(items=items, scrambled=True)
        if payload_bytes(shop) >= size:
            return shop
    raise ValueError(f"no cart reaches {size} bytes")


def size_app(key: str, port: int, shop: Shop) -> Flask:
    if key == "A":
        return peers.flask_cookie_app(shop)
    if key == "B":
        return peers.flask_session_app(client_for(port), refresh=True, shop=shop)
    # Exceptions propagate, so SessionTooLarge reaches the test client's caller.
    return peers.ours_app(key, client_for(port), shop, PROPAGATE_EXCEPTIONS=True)


def size_cell(key: str, size: int, port: int, warm: int) -> tuple[Variant | None, dict[str, t.Any]]:
    """A prepared variant for one cell, or None with the reason it cannot run."""
    shop = shop_of(size)
    variant = Variant(
        f"{key}@{size}",
        f"{LABELS[key]}, {SIZE_LABELS[size]}",
        "",
        size_app(key, port, shop),
        key != "A",
        shop,
    )
    info: dict[str, t.Any] = {"items": shop.items, "payload_bytes": payload_bytes(shop)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Werkzeug's "cookie is too large"
            variant.login()
    except SessionTooLarge as exc:
        info.update(status=TOO_LARGE, detail=str(exc).split(";")[0])
        return None, info
    credential = variant.credential_bytes()
    info["credential_bytes"] = credential
    if credential > BROWSER_COOKIE_LIMIT:
        info.update(
            status=TOO_LARGE,
            detail=f"a {credential}-byte cookie; browsers keep {BROWSER_COOKIE_LIMIT}",
        )
        return None, info
    variant.client = variant.app.test_client()  # log in again inside prepare()
    peers.prepare(variant, warm)
    info["credential_bytes"] = variant.credential_bytes()
    info["status"] = "measured"
    return variant, info


def session_sizes(plan: Plan, port: int, clock: Clock) -> dict[str, t.Any]:
    cells: dict[str, dict[str, t.Any]] = {}
    subjects: list[Variant] = []
    for size in SIZES:
        for key in SIZE_VARIANTS:
            clock.check("(a) set-up")
            variant, info = size_cell(key, size, port, min(plan.n, 50))
            cells[f"{key}@{size}"] = info
            if variant is not None:
                subjects.append(variant)
    samples, done = peers.measure(subjects, plan.n, plan.repeats, clock.deadline)
    measured = {s.key for s in subjects}
    for name, info in cells.items():
        if name not in measured:
            continue
        size_key = name.split("@")[1]
        for route in peers.ROUTES:
            mine = samples[(name, route)].us
            entry: dict[str, t.Any] = {
                "median_us": statistics.median(mine),
                "round_trips": statistics.fmean(samples[(name, route)].trips),
                "samples_us": mine,
            }
            for base in ("A", "B"):
                other = f"{base}@{size_key}"
                entry[f"ratio_to_{base}"] = (
                    peers.paired_median(samples, (name, route), (other, route), peers.ratio)
                    if other in measured
                    else None
                )
            info[route] = entry
    return {"n": plan.n, "repeats_done": done, "cells": cells}


def sizes_table(result: dict[str, t.Any]) -> str:
    cells = result["cells"]
    head = " | ".join(f"{SIZE_LABELS[s]} read / write µs" for s in SIZES)
    lines = [f"| variant | {head} |", "|---|" + "--:|" * len(SIZES)]
    for key in SIZE_VARIANTS:
        row = []
        for size in SIZES:
            info = cells[f"{key}@{size}"]
            if info["status"] != "measured":
                row.append(info["status"])
                continue
            read, write = info["read"], info["write"]
            ratio = read["ratio_to_A"]
            against = f" ({ratio:.2f}x / {write['ratio_to_A']:.2f}x A)" if ratio else ""
            row.append(f"{read['median_us']:.0f} / {write['median_us']:.0f}{against}")
        lines.append(f"| {LABELS[key]} | {' | '.join(row)} |")
    lines.append("")
    lines.append("| credential bytes | " + " | ".join(SIZE_LABELS[s] for s in SIZES) + " |")
    lines.append("|---|" + "--:|" * len(SIZES))
    payloads = " | ".join(str(cells[f"A@{s}"]["payload_bytes"]) for s in SIZES)
    lines.append(f"| (session payload, JSON) | {payloads} |")
    for key in SIZE_VARIANTS:
        row = [str(cells[f"{key}@{s}"].get("credential_bytes", "-")) for s in SIZES]
        lines.append(f"| {LABELS[key]} | {' | '.join(row)} |")
    return "\n".join(lines)


# Apps with Flask-Login, for (b) and (c).


class User:
    """A Flask-Login user: every id exists."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id


def login_app(mode: str, client: redis.Redis, **config: t.Any) -> Flask:
    """The shop (a 10-item cart) in ``mode``, plus ``POST /signin/<uid>`` (Flask-Login).

    ``mode`` "flask-session": the same on Flask-Session with Redis (B).
    """
    import flask_login

    shop = peers.SHOP
    if mode == "flask-session":
        app = peers.flask_session_app(client, refresh=True, shop=shop)
        app.config["PROPAGATE_EXCEPTIONS"] = True
    else:
        app = peers.ours_app(mode, client, shop, PROPAGATE_EXCEPTIONS=True, **config)
    manager = flask_login.LoginManager(app)
    manager.user_loader(User)

    def signin(user_id: str) -> str:
        flask_login.login_user(User(user_id))
        session["cart"] = shop.full_cart()
        return "ok"

    app.add_url_rule("/signin/<user_id>", "signin", signin, methods=["POST"])
    return app


def ok(status: int, what: str) -> None:
    if status != 200:
        raise RuntimeError(f"{what} answered {status}")


# (b) Redis memory per live session and per revocation mark.


class Recorder:
    """The commands sent through a :class:`RecordingConnection` while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.commands: list[tuple[t.Any, ...]] = []


class RecordingConnection(redis.Connection):
    """Records each command's arguments: single commands and pipelines."""

    recorder: Recorder

    def send_command(self, *args: t.Any, **kwargs: t.Any) -> None:
        # A single command (redis-py packs it without pack_command).
        if self.recorder.on:
            self.recorder.commands.append(args)
        super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pack_commands(self, commands: t.Iterable[t.Any]) -> list[bytes | memoryview]:
        commands = list(commands)
        if self.recorder.on:
            self.recorder.commands.extend(tuple(c) for c in commands)
        return super().pack_commands(commands)  # type: ignore[no-untyped-call, no-any-return]


def recording_client(port: int, recorder: Recorder) -> redis.Redis:
    connection_class = type("Recording", (RecordingConnection,), {"recorder": recorder})
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, connection_class=connection_class)
    return redis.Redis(connection_pool=pool)


def all_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def as_bytes(value: t.Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    return str(value).encode()


def fresh_id(old: bytes) -> bytes:
    """A random id of the same length (base64url characters)."""
    return base64.urlsafe_b64encode(os.urandom(len(old)))[: len(old)]


def renamed(key: bytes, mapping: dict[bytes, bytes]) -> bytes:
    """``key`` with each hash tag's id swapped for its fresh one (made on first sight)."""

    def swap(match: re.Match[bytes]) -> bytes:
        old = match.group(2)
        if old not in mapping:
            mapping[old] = fresh_id(old)
        return b"{" + match.group(1) + b":" + mapping[old] + b"}"

    return _HASH_TAG.sub(swap, key)


def replay(client: redis.Redis, commands: list[tuple[t.Any, ...]]) -> dict[bytes, bytes]:
    """Send ``commands`` again with every session and user id renamed.

    Ids are found in the hash tags of the key names; an argument equal to an
    id (the sid or user tag a script also takes as an argument) is renamed
    too. Every other argument (sealed values, times, TTLs) goes as it was.

    :return: the mapping from old to new ids.
    """
    mapping: dict[bytes, bytes] = {}
    parsed = [[as_bytes(arg) for arg in command] for command in commands]
    for command in parsed:
        for arg in command:
            if b"{" in arg:
                renamed(arg, mapping)
    pipe = client.pipeline(transaction=False)
    for command in parsed:
        pipe.execute_command(  # type: ignore[no-untyped-call]
            *(renamed(arg, mapping) if b"{" in arg else mapping.get(arg, arg) for arg in command)
        )
    pipe.execute()
    return mapping


def memory_usage(client: redis.Redis, names: t.Sequence[bytes]) -> list[int | None]:
    """Bytes per key (``None`` for a missing key), every element counted."""
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.execute_command("MEMORY", "USAGE", name, "SAMPLES", "0")  # type: ignore[no-untyped-call]
    return [None if size is None else int(size) for size in pipe.execute()]


def per_item_memory(
    kind: str,
    client: redis.Redis,
    recorder: Recorder,
    create: t.Callable[[int], None],
    plan: Plan,
    clock: Clock,
) -> dict[str, t.Any]:
    """Create ``plan.real`` through ``create(i)``, replay to ``plan.total``, measure."""
    before_keys = all_keys(client)
    before = used_memory(client)
    recorder.commands.clear()
    recorder.on = True
    try:
        for i in range(plan.real):
            if i % 100 == 0:
                clock.check(f"(b) {kind}")
            create(i)
    finally:
        recorder.on = False
    commands = list(recorder.commands)
    after_real = used_memory(client)
    new_keys = sorted(all_keys(client) - before_keys)
    if not new_keys:
        raise RuntimeError(f"{kind}: creating them left no key in Redis")
    usage = memory_usage(client, new_keys)
    result: dict[str, t.Any] = {
        "kind": kind,
        "real": plan.real,
        "keys_per_item": len(new_keys) / plan.real,
        "commands_per_item": len(commands) / plan.real,
        "real_used_memory_per_item": (after_real - before) / plan.real,
        "memory_usage_per_item": sum(u or 0 for u in usage) / plan.real,
    }
    copies = math.ceil(plan.total / plan.real) - 1
    mapping = replay(client, commands)
    clones = [renamed(name, dict(mapping)) for name in new_keys]
    cloned = memory_usage(client, clones)
    original_total = sum(u or 0 for u in usage)
    cloned_total = sum(u or 0 for u in cloned)
    result.update(
        replay_check={
            "keys": len(clones),
            "missing": sum(u is None for u in cloned),
            "same_size": sum(a == b for a, b in zip(usage, cloned, strict=True)),
            "memory_usage_original": original_total,
            "memory_usage_replayed": cloned_total,
        }
    )
    if None in cloned or abs(cloned_total - original_total) > REPLAY_TOLERANCE * original_total:
        client.delete(*(name for name, size in zip(clones, cloned, strict=True) if size))
        result.update(
            replayed=False,
            note=f"the replayed copy takes {cloned_total} bytes against {original_total}: not used",
        )
        return result
    for copy in range(1, copies):
        if copy % 10 == 0:
            clock.check(f"(b) replaying {kind}")
        replay(client, commands)
    count = plan.real * (copies + 1)
    expected_keys = len(before_keys) + len(new_keys) * (copies + 1)
    if client.dbsize() != expected_keys:
        raise RuntimeError(f"{kind}: {client.dbsize()} keys, expected {expected_keys}")
    result.update(
        replayed=True,
        count=count,
        used_memory_per_item=(used_memory(client) - before) / count,
    )
    return result


def copied_memory(
    kind: str, client: redis.Redis, create: t.Callable[[int], None], plan: Plan, clock: Clock
) -> dict[str, t.Any]:
    """Flask-Session's figures, as :func:`per_item_memory` gives ours: ``plan.real``
    made by ``create(i)``, then ``COPY``-ed (value and TTL) under new names of the
    same length up to ``plan.total``. Its keys carry no hash tag to swap, and a
    ``SET`` replayed is the same object ``COPY`` makes."""
    before_keys = all_keys(client)
    before = used_memory(client)
    for i in range(plan.real):
        if i % 100 == 0:
            clock.check(f"(b) {kind}")
        create(i)
    after_real = used_memory(client)
    new_keys = sorted(all_keys(client) - before_keys)
    if not new_keys:
        raise RuntimeError(f"{kind}: creating them left no key in Redis")
    usage = memory_usage(client, new_keys)
    copies = math.ceil(plan.total / plan.real) - 1
    for copy in range(1, copies + 1):
        if copy % 10 == 0:
            clock.check(f"(b) copying {kind}")
        pipe = client.pipeline(transaction=False)
        for name in new_keys:
            pipe.execute_command("COPY", name, name[:-8] + b"%08d" % copy)  # type: ignore[no-untyped-call]
        if not all(pipe.execute()):
            raise RuntimeError(f"{kind}: a COPY found its name taken")
    count = plan.real * (copies + 1)
    return {
        "kind": kind,
        "real": plan.real,
        "keys_per_item": len(new_keys) / plan.real,
        "real_used_memory_per_item": (after_real - before) / plan.real,
        "memory_usage_per_item": sum(u or 0 for u in usage) / plan.real,
        "replayed": True,
        "count": count,
        "used_memory_per_item": (used_memory(client) - before) / count,
    }


def memory(plan: Plan, port: int, clock: Clock) -> list[dict[str, t.Any]]:
    client = client_for(port)
    results = []

    def sessions(kind: str, mode: str, signin: bool) -> None:
        client.flushall()
        recorder = Recorder()
        app = login_app(mode, recording_client(port, recorder))
        warm = app.test_client()
        ok(warm.post("/signin/warm-up" if signin else "/login").status_code, "warm-up")

        def create(i: int) -> None:
            browser = app.test_client()
            path = f"/signin/user-{i:07d}" if signin else "/login"
            ok(browser.post(path).status_code, path)

        results.append(per_item_memory(kind, client, recorder, create, plan, clock))

    def flask_session(kind: str, signin: bool) -> None:
        client.flushall()
        app = login_app("flask-session", client_for(port))
        ok(app.test_client().post("/signin/warm-up" if signin else "/login").status_code, "warm")

        def create(i: int) -> None:
            path = f"/signin/user-{i:07d}" if signin else "/login"
            ok(app.test_client().post(path).status_code, path)

        results.append(copied_memory(kind, client, create, plan, clock))

    sessions("server session, guest (10-item cart)", "server", signin=False)
    flask_session("B Flask-Session, guest (10-item cart)", signin=False)
    sessions("server session, Flask-Login user (10-item cart)", "server", signin=True)
    flask_session("B Flask-Session, Flask-Login user (10-item cart)", signin=True)
    sessions("jwt session, Flask-Login user (cart in the token)", "jwt", signin=True)

    client.flushall()
    recorder = Recorder()
    app = login_app("server", recording_client(port, recorder))
    extension = app.extensions["hybrid_session"]

    def revoke(i: int) -> None:
        with app.app_context():
            extension.revoke(secrets.token_urlsafe(16))

    revoke(0)  # warm: the END script loaded
    results.append(
        per_item_memory("revocation mark (revoke(sid))", client, recorder, revoke, plan, clock)
    )
    client.flushall()
    return results


def memory_table(results: list[dict[str, t.Any]]) -> str:
    lines = [
        "| what | keys each | bytes each, at the full count (used_memory) | count"
        " | bytes each, real ones only (used_memory) | MEMORY USAGE of its keys |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        at_count = f"{r['used_memory_per_item']:.0f}" if r.get("replayed") else r.get("note", "-")
        lines.append(
            f"| {r['kind']} | {r['keys_per_item']:g} | {at_count} | {r.get('count', r['real'])}"
            f" | {r['real_used_memory_per_item']:.0f} ({r['real']})"
            f" | {r['memory_usage_per_item']:.0f} |"
        )
    return "\n".join(lines)


# (c) revoke_user and sessions_for for a user with many sessions.


Snapshot = list[tuple[bytes, int, bytes]]


def snapshot(client: redis.Redis, keys: t.Iterable[bytes]) -> Snapshot:
    """Each key with its remaining TTL (0 = none) and its DUMP."""
    names = sorted(keys)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.pttl(name)
        pipe.dump(name)
    replies = pipe.execute()
    return [(name, max(int(replies[2 * i]), 0), replies[2 * i + 1]) for i, name in enumerate(names)]


def restore_all(client: redis.Redis, keys: Snapshot) -> None:
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for name, ttl, payload in keys:
        pipe.restore(name, ttl, payload)
    pipe.execute()


def user_operations(plan: Plan, port: int, clock: Clock) -> list[dict[str, t.Any]]:
    client = client_for(port)
    results = []
    for mode in ("jwt", "server"):
        client.flushall()
        # The per-user cap (100 by default) lifted: one user holds them all.
        app = login_app(mode, client_for(port), HYBRID_SESSION_MAX_SESSIONS_PER_USER=0)
        for i in range(plan.user_sessions):
            if i % 100 == 0:
                clock.check(f"(c) logins, {mode}")
            ok(app.test_client().post("/signin/alice").status_code, "login")
        extension = app.extensions["hybrid_session"]
        state = snapshot(client, all_keys(client))
        listing, revoking = [], []
        for _ in range(plan.runs):
            clock.check(f"(c) runs, {mode}")
            with app.app_context():
                started = time.perf_counter()
                found = extension.sessions_for("alice")
                listing.append((time.perf_counter() - started) * 1000)
            if len(found) != plan.user_sessions:
                raise RuntimeError(f"sessions_for found {len(found)}, not {plan.user_sessions}")
        for _ in range(plan.runs):
            clock.check(f"(c) runs, {mode}")
            restore_all(client, state)
            with app.app_context():
                started = time.perf_counter()
                ended = extension.revoke_user("alice")
                revoking.append((time.perf_counter() - started) * 1000)
            if ended != plan.user_sessions:
                raise RuntimeError(f"revoke_user ended {ended}, not {plan.user_sessions}")
        results.append(
            {
                "mode": mode,
                "sessions": plan.user_sessions,
                "sessions_for_ms": statistics.median(listing),
                "revoke_user_ms": statistics.median(revoking),
                "sessions_for_samples_ms": listing,
                "revoke_user_samples_ms": revoking,
            }
        )
        client.flushall()
    return results


def user_table(results: list[dict[str, t.Any]]) -> str:
    lines = [
        "| mode | sessions of the user | sessions_for ms | revoke_user ms |",
        "|---|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['sessions']} | {r['sessions_for_ms']:.1f}"
            f" | {r['revoke_user_ms']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling", description=(__doc__ or "").split("\n\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="N=100, 3 repeats, 1,000 real replayed to 20,000, 300 logins (about a minute)",
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="N=10, 1 repeat, 100 real replayed to 1,000, 30 logins (a few seconds)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where scaling.json and scaling.md go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    for module in ("flask_session", "flask_login"):
        if not peers.has_module(module):
            sys.exit(f"{module} is missing; install: {PEERS_INSTALL}")

    exit_on_sigterm()
    started = time.monotonic()
    clock = Clock(started + plan.budget)
    with tempfile.TemporaryDirectory(prefix="hs-scaling-") as workdir:
        process, port = start_server(workdir)
        try:
            sizes = session_sizes(plan, port, clock)
            memory_results = memory(plan, port, clock)
            user_results = user_operations(plan, port, clock)
            redis_version = client_for(port).info("server")["redis_version"]
        except OutOfTime as exc:
            sys.exit(f"scaling stopped: {exc}")
        finally:
            process.terminate()
            process.wait()

    meta = {
        "command": "python -m benchmarks.scaling"
        + (" --smoke" if args.smoke else " --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "plan": dataclasses.asdict(plan),
        "seconds": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "redis_server": redis_version,
        "versions": peers.versions(),
    }
    markdown = (
        f"(a) Per request as the session grows: N={plan.n}, {sizes['repeats_done']} repeats,"
        " median; ratios to A of the same size, within each repeat.\n\n"
        f"{sizes_table(sizes)}\n\n"
        f"(b) Redis memory, {plan.real} created through the package, replayed to"
        f" {plan.total}.\n\n{memory_table(memory_results)}\n\n"
        f"(c) One user with {plan.user_sessions} sessions, median of {plan.runs} runs.\n\n"
        f"{user_table(user_results)}\n\n{meta['seconds']} s.\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "session_size": sizes,
                "memory": memory_results,
                "user_operations": user_results,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    (args.out / "scaling.md").write_text(markdown)
    print(markdown)
    print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.md'}")


if __name__ == "__main__":
    main()
