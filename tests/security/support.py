"""What the security tests share: sending a credential as a client would, reading
what the response issues, forging JWTs by hand, and the fuzz budget.

Everything goes through HTTP (the Flask test client) against a real Redis. The
only look inside is the key ring a test derives from its own ``SECRET_KEY``
(:func:`ring`), to forge validly signed tokens and sealed blobs; each use of it
has a positive control that the same forging path opens a session when nothing
is wrong, so a refusal proves the check under test.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import hmac
import json
import os
import typing as t
from http.cookies import SimpleCookie

import redis
from flask import Flask
from flask import request
from flask import session
from flask.testing import FlaskClient
from werkzeug.http import dump_cookie
from werkzeug.test import TestResponse

from flask_hybridsession.crypto import KeyRing
from flask_hybridsession.crypto import build_keyring

from ..conftest import SECRET
from ..conftest import build_login_app

Via = t.Literal["cookie", "bearer"]
VIAS: t.Final[tuple[Via, ...]] = ("cookie", "bearer")
MODES: t.Final = ("jwt", "server", "auto")
#: The modes that issue JWTs (auto while a session fits a cookie).
JWT_MODES: t.Final = ("jwt", "auto")
#: The modes that keep sessions in Redis (auto once a session outgrows a cookie).
REDIS_MODES: t.Final = ("server", "auto")
#: A value big enough to push an auto session into Redis.
BIG: t.Final = "x" * 5000
Json = dict[str, t.Any]

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


# Encoding by hand.


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(value: object) -> str:
    """One JWS segment: compact JSON, base64url without padding."""
    return b64e(json.dumps(value, separators=(",", ":")).encode())


def jws(
    header: object,
    claims: object,
    key: bytes | None,
    digest: t.Callable[[], t.Any] = hashlib.sha256,
) -> str:
    """A compact JWS with an HMAC signature; ``key=None`` leaves the signature empty."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64e(mac)}"


def read_jwt(token: str) -> tuple[Json, Json]:
    """The header and claims of a JWT, unverified."""
    header, claims, _ = token.split(".")
    return json.loads(b64d(header)), json.loads(b64d(claims))


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


# Requests.


def send(
    client: FlaskClient,
    credential: str | None,
    via: Via = "cookie",
    *,
    method: str = "GET",
    path: str = "/get/k",
    headers: dict[str, str] | None = None,
    **kwargs: t.Any,
) -> TestResponse:
    """One request carrying exactly ``credential`` (none when None), no cookie jar.

    The environ is set directly so the client neither refuses nor rewrites odd
    values: a cookie is quoted as werkzeug quotes it, and a header arrives as a
    WSGI server hands it over, its UTF-8 bytes as latin-1 text.
    """
    environ: dict[str, str] = {}
    if credential is not None and via == "cookie":
        environ["HTTP_COOKIE"] = dump_cookie("session", credential, path=None, max_size=0)
    elif credential is not None:
        raw = credential.encode("utf-8", "surrogatepass").decode("latin-1")
        environ["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client.open(
        path, method=method, environ_overrides=environ, headers=headers or {}, **kwargs
    )


def present(
    app: Flask,
    credential: str | None,
    via: Via = "cookie",
    *,
    method: str = "GET",
    path: str = "/get/k",
    **kwargs: t.Any,
) -> TestResponse:
    return send(
        app.test_client(use_cookies=False), credential, via, method=method, path=path, **kwargs
    )


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


def body(response: TestResponse) -> Json:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def assert_fresh(response: TestResponse, *victim_sids: str) -> None:
    """A fresh empty session: new, no value, none of the victims' ids."""
    data = body(response)
    assert data["new"] is True
    assert data["value"] == "None"
    for sid in victim_sids:
        assert data["sid"] != sid


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


class Clock:
    """An injectable clock: ``app.session_interface.clock`` (documented for tests)."""

    def __init__(self, now: float | None = None) -> None:
        import time

        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def with_clock(*apps: Flask, now: float | None = None) -> Clock:
    clock = Clock(now)
    for app in apps:
        app.session_interface.clock = clock  # type: ignore[attr-defined]
    return clock
