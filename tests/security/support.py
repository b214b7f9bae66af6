"""What the security tests share: the reference app, reading what a response
issues, the clock, Redis scans and garbage, and the fuzz budget.

Forging credentials and presenting them is ``tests/forging.py``'s job.
Everything goes through HTTP (the Flask test client) against a real Redis. The
only look inside is the key ring a test derives from its own ``SECRET_KEY``
(:func:`ring`), to forge validly signed tokens and sealed blobs; each use of it
has a positive control that the same forging path opens a session when nothing
is wrong, so a refusal proves the check under test.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import typing as t
from http.cookies import SimpleCookie

import redis
from flask import Flask
from flask import request
from flask import session
from werkzeug.test import TestResponse

from flask_hybridsession.crypto import KeyRing
from flask_hybridsession.crypto import build_keyring

from ..conftest import SECRET
from ..conftest import Clock as Clock
from ..conftest import build_login_app
from ..conftest import with_clock as with_clock
from ..forging import Json
from ..forging import Minted
from ..forging import Via
from ..forging import assert_fresh
from ..forging import body
from ..forging import present
from ..forging import read_jwt

MODES: t.Final = ("jwt", "server", "auto")
#: The modes that issue JWTs (auto while a session fits a cookie).
JWT_MODES: t.Final = ("jwt", "auto")
#: The modes that keep sessions in Redis (auto once a session outgrows a cookie).
REDIS_MODES: t.Final = ("server", "auto")
#: A value big enough to push an auto session into Redis.
BIG: t.Final = "x" * 5000

#: Fuzz cases run, by mode (printed at the end of the run by conftest.py).
FUZZ_CASES: collections.Counter[str] = collections.Counter()


def fuzz_examples(default: int) -> int:
    """``max_examples`` of one fuzz test: ``default``, or HYBRID_SESSION_FUZZ_EXAMPLES."""
    configured = os.environ.get("HYBRID_SESSION_FUZZ_EXAMPLES")
    return int(configured) if configured else default


def fuzz_seconds() -> float | None:
    """Time budget of one fuzz test (HYBRID_SESSION_FUZZ_SECONDS); None: no budget.

    Past it, the remaining cases return at once (uncounted), so a long run ends
    on time without hiding a failure found before.
    """
    configured = os.environ.get("HYBRID_SESSION_FUZZ_SECONDS")
    return float(configured) if configured else None


def fuzz_deadline_ms() -> int:
    """Per-case deadline: a case this slow is a denial-of-service finding."""
    return int(os.environ.get("HYBRID_SESSION_FUZZ_DEADLINE_MS", "2000"))


# Keys.


def ring(secret: str = SECRET) -> KeyRing:
    """The key ring an app with ``SECRET_KEY = secret`` (and HS256) derives."""
    return build_keyring((secret.encode(),), None, "HS256")


# Apps.


def security_app(mode: str, **config: t.Any) -> Flask:
    """The checklist's reference app (tests/conftest.py) plus the routes a few items need.

    Exceptions propagate to the test client, so one that escapes to Flask
    fails the test instead of becoming a 500 nobody reads.
    """
    config.setdefault("PROPAGATE_EXCEPTIONS", True)
    app = build_login_app(mode, **config)

    @app.post("/permanent/<key>/<value>")
    def permanent(key: str, value: str) -> str:
        session.permanent = True
        session[key] = value
        return "ok"

    @app.post("/big")
    def big() -> str:
        session["big"] = BIG
        return "ok"

    @app.post("/revoke/<sid>")
    def revoke(sid: str) -> str:
        return str(app.extensions["hybrid_session"].revoke(sid))

    @app.get("/len")
    def length() -> str:
        return str(len(session))

    @app.get("/keys")
    def keys() -> str:
        return ",".join(sorted(session.keys()))

    @app.route("/whoami", methods=["GET", "POST"])
    def whoami() -> str:
        import flask_login

        user = flask_login.current_user
        return "anonymous" if user.is_anonymous else str(user.get_id())

    @app.get("/echo-session")
    def echo_session() -> Json:
        return {"items": {k: repr(v) for k, v in session.items()}, "args": dict(request.args)}

    return app


# Responses.


def set_cookie_headers(response: TestResponse, name: str = "session") -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


def cookie_attrs(header: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, lower-cased names; flags map to ""."""
    attrs: dict[str, str] = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attrs[name.lower()] = value
    return attrs


def issued(response: TestResponse, via: Via) -> str:
    """The credential a response hands out ("" when none, or cleared)."""
    if via == "bearer":
        return response.headers.get("X-Session-Token", "")
    for header in set_cookie_headers(response):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header.split(";", 1)[0])
        return parsed["session"].value if "session" in parsed else ""
    return ""


def assert_opens(
    app: Flask, credential: str, sid: str, via: Via = "cookie", value: str = "'v'"
) -> None:
    """Positive control: ``credential`` opens session ``sid``, holding k = ``value``."""
    assert body(present(app, credential, via)) == {"value": value, "sid": sid, "new": False}


def assert_refused(response: TestResponse, *victim_sids: str) -> None:
    """What a bad credential may give on a public route: a fresh session, or a 401."""
    if response.status_code == 401:
        return
    assert_fresh(response, *victim_sids)


@dataclasses.dataclass(frozen=True)
class Held:
    """A credential a client holds, how it sends it, and the session it opens."""

    app: Flask
    credential: str
    via: Via
    sid: str

    def get(self, path: str = "/get/k", **kwargs: t.Any) -> TestResponse:
        return present(self.app, self.credential, self.via, path=path, **kwargs)

    def post(self, path: str, **kwargs: t.Any) -> TestResponse:
        return present(self.app, self.credential, self.via, method="POST", path=path, **kwargs)

    def me(self) -> TestResponse:
        return self.get("/me")

    def then(self, response: TestResponse) -> Held:
        """What the client holds after ``response`` (the new credential, if any)."""
        fresh = issued(response, self.via)
        if not fresh:
            return self
        return Held(self.app, fresh, self.via, body(present(self.app, fresh, self.via))["sid"])


def start(app: Flask, via: Via = "cookie", path: str = "/set/k/v") -> Held:
    """A new session, made by one POST (``path``), as the client then holds it."""
    headers = {"X-Session-Token": "new"} if via == "bearer" else {}
    response = app.test_client(use_cookies=False).post(path, headers=headers)
    assert response.status_code == 200, response.status_code
    credential = issued(response, via)
    assert credential
    return Held(app, credential, via, body(present(app, credential, via))["sid"])


def mint(app: Flask) -> Minted:
    """A real session JWT of ``app`` holding k = "v" (HS256 under :func:`ring`), taken apart."""
    held = start(app)
    header, claims = read_jwt(held.credential)
    kid, key = ring().signing[0]
    assert header == {"alg": "HS256", "kid": kid, "typ": "hs+jwt"}
    assert claims["sid"] == held.sid
    return Minted(held.credential, held.sid, header, claims, key)


def login(
    app: Flask,
    user: str,
    via: Via = "cookie",
    *,
    before: Held | None = None,
    remember: bool = False,
) -> tuple[Held, TestResponse]:
    """Log ``user`` in (Flask-Login's ``login_user``), from ``before`` or from nothing."""
    path = f"/login/{user}" + ("?remember=1" if remember else "")
    if before is not None:
        response = before.post(path)
    else:
        headers = {"X-Session-Token": "new"} if via == "bearer" else {}
        response = app.test_client(use_cookies=False).post(path, headers=headers)
    assert response.status_code == 200, response.status_code
    credential = issued(response, via)
    assert credential
    held = Held(app, credential, via, body(present(app, credential, via))["sid"])
    assert held.me().text == user
    return held, response


def redis_values(rdb: redis.Redis) -> list[bytes]:
    """Every key name and every stored byte string of the server, for leak scans."""
    found: list[bytes] = []
    for key in rdb.scan_iter(count=1000):
        found.append(key)
        kind = rdb.type(key)
        if kind == b"string":
            found.append(t.cast(bytes, rdb.get(key)))
        elif kind == b"hash":
            for field, value in t.cast(dict[bytes, bytes], rdb.hgetall(key)).items():
                found += [field, value]
    return found


def redis_calls(rdb: redis.Redis) -> int:
    """Commands the server has run, INFO aside (commandstats; never a mock)."""
    stats = t.cast(dict[str, dict[str, t.Any]], rdb.info("commandstats"))
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


RedisType = t.Literal["string", "list", "set", "zset"]


def replace_with(rdb: redis.Redis, key: str, kind: RedisType) -> None:
    """Put a key of another type (holding garbage) where ``key`` was."""
    rdb.delete(key)
    if kind == "string":
        rdb.set(key, b"garbage")
    elif kind == "list":
        rdb.rpush(key, b"m", b"garbage")
    elif kind == "set":
        rdb.sadd(key, b"garbage")
    else:
        rdb.zadd(key, {b"garbage": 1.0})
