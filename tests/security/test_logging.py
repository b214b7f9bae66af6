"""HS-46 and HS-43: no credential, sid or key material in any log record or error.

Every logger is captured at DEBUG while a failure suite runs in each mode:
tampered and forged tokens, garbage credentials, revoked sessions (logout,
log out everywhere, regenerate), remember-me without its companion, key
rotation, garbage in Redis, an oversized jwt session, misconfiguration
warnings, and Redis stopped. Then no record (message, args, exception text)
may hold an issued or presented credential, a sid in clear, ``SECRET_KEY``,
a derived key (raw, hex or base64) or the naming key; nor may any error body
or exception message.
"""

from __future__ import annotations

import base64
import collections.abc as cabc
import logging
import os
import typing as t

import pytest
import redis
from flask import Flask
from werkzeug.test import TestResponse

from flask_hybridsession import SessionTooLarge
from flask_hybridsession import StoreUnavailable

from ..conftest import SECRET
from ..conftest import RedisServer
from ..conftest import running
from ..forging import VIAS
from ..forging import Via
from ..forging import b64e
from ..forging import jws
from ..forging import present
from ..forging import read_jwt
from .support import MODES
from .support import ring
from .support import security_app
from .support import set_cookie_headers

NEW_SECRET: t.Final = "logging-new-secret-0123456789abcdef01234567"
NAMING_KEY: t.Final = b"naming-key-for-the-logging-test!"
SHORT_SECRET: t.Final = "short-secret-xyz"


class Capture(logging.Handler):
    """Every record of every logger, at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for record in self.records:
            parts = [record.getMessage(), repr(record.args), str(record.msg)]
            if record.exc_info:
                parts.append(self._formatter.formatException(record.exc_info))
            if record.exc_text:
                parts.append(record.exc_text)
            if record.stack_info:
                parts.append(record.stack_info)
            out.append("\n".join(parts))
        return out


@pytest.fixture()
def capture() -> cabc.Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is not root:
            logger.propagate = True
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def key_forms(key: bytes) -> list[str]:
    """How key bytes could show up in text."""
    forms = [
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        b64e(key),
        repr(key)[2:-1],
    ]
    return [form for form in forms if len(form) >= 16]


class Secrets:
    """Everything that must never be logged, and where it was seen."""

    def __init__(self) -> None:
        self.credentials: set[str] = set()
        self.sids: set[str] = set()
        self.keys: set[str] = set()
        self.error_bodies: list[str] = []
        self.exceptions: list[str] = []

    def add_keys(self, *secrets: str | bytes) -> None:
        for secret in secrets:
            raw = secret.encode() if isinstance(secret, str) else secret
            self.keys.add(raw.decode("latin-1"))
            self.keys.update(key_forms(raw))
            derived = ring(raw.decode("latin-1")) if isinstance(secret, str) else None
            if derived is not None:
                material = [
                    derived.encryption[0].key,
                    derived.signing[0][1],
                    derived.remember_keys[0],
                    derived.token_key,
                ]
                for key in material:
                    self.keys.update(key_forms(key))

    def track(self, response: TestResponse, sent: str | None = None) -> TestResponse:
        if sent and len(sent) >= 16:
            self.credentials.add(sent)
        for name in ("session", "remember_token", "remember_token_hs"):
            for header in set_cookie_headers(response, name):
                value = header.split(";", 1)[0].split("=", 1)[1].strip('"')
                if len(value) >= 16:
                    self.credentials.add(value)
        token = response.headers.get("X-Session-Token", "")
        if len(token) >= 16:
            self.credentials.add(token)
        data = response.get_json(silent=True)
        if isinstance(data, dict) and isinstance(data.get("sid"), str):
            self.sids.add(data["sid"])
        if response.status_code >= 400:
            self.error_bodies.append(response.get_data(as_text=True))
        return response

    def needles(self) -> list[tuple[str, str]]:
        """(what, text) pairs; long credentials by aligned 24-char windows, so any
        leaked piece of 32 characters or more is caught."""
        found: list[tuple[str, str]] = []
        for credential in self.credentials:
            found.append(("credential", credential))
            found += [
                ("credential piece", credential[i : i + 24])
                for i in range(0, len(credential) - 24, 8)
            ]
        for sid in self.sids:
            found += [("sid", sid[i : i + 16]) for i in range(len(sid) - 15)]
        found += [("key material", key) for key in self.keys]
        return found

    def leaks(self, texts: list[str]) -> list[tuple[str, str, str]]:
        blob = "\n\x00\n".join(texts)
        return [
            (what, needle, _around(blob, needle))
            for what, needle in self.needles()
            if needle in blob
        ]


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 80) : at + len(needle) + 40]


def send(
    secrets: Secrets, app: Flask, credential: str | None, via: Via = "cookie", **kwargs: t.Any
) -> TestResponse:
    return secrets.track(present(app, credential, via, **kwargs), credential)


def issue(secrets: Secrets, app: Flask, path: str, via: Via, credential: str | None = None) -> str:
    headers = {"X-Session-Token": "new"} if via == "bearer" and credential is None else {}
    response = send(secrets, app, credential, via, method="POST", path=path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    if via == "bearer":
        return response.headers.get("X-Session-Token") or t.cast(str, credential)
    for header in set_cookie_headers(response):
        return header.split(";", 1)[0].split("=", 1)[1]
    return t.cast(str, credential)


@pytest.fixture()
def own_server() -> cabc.Iterator[RedisServer]:
    with running(RedisServer, "hs-log-") as server:
        yield server


def failure_suite(
    mode: str, redis_url: str, rdb: redis.Redis, own_server: RedisServer, secrets: Secrets
) -> None:
    config = {"HYBRID_SESSION_REDIS_URL": redis_url, "HYBRID_SESSION_NAMING_KEY": NAMING_KEY}
    app = security_app(mode, **config)
    generated_naming = security_app(mode, HYBRID_SESSION_REDIS_URL=redis_url)
    secrets.add_keys(SECRET, NEW_SECRET, NAMING_KEY, SHORT_SECRET)

    for via in VIAS:
        # Login, reads, writes, regenerate, logout: the ordinary life.
        alice = issue(secrets, app, "/login/alice?remember=1", via)
        send(secrets, app, alice, via)
        alice = issue(secrets, app, "/set/k/value", via, alice)
        send(secrets, app, alice, via)
        old = alice
        alice = issue(secrets, app, "/reauth", via, alice)
        assert send(secrets, app, old, via, path="/me").status_code == 401
        send(secrets, app, alice, via, method="POST", path="/logout")
        assert send(secrets, app, alice, via, path="/me").status_code == 401

        # Forged and tampered credentials.
        bob = issue(secrets, app, "/login/bob", via)
        send(secrets, app, bob, via)
        forged = [
            bob[:-3] + ("AAA" if not bob.endswith("AAA") else "BBB"),
            bob + "A" * 5000,
            "v1." + b64e(os.urandom(48)),
            "garbage-credential-" + os.urandom(8).hex(),
        ]
        if bob.count(".") == 2:
            header, claims = read_jwt(bob)
            forged += [
                jws({**header, "alg": "none"}, claims, None),
                jws({**header, "kid": "unknown-kid"}, claims, ring().signing[0][1]),
                jws(header, {**claims, "exp": 1}, ring().signing[0][1]),
            ]
        for credential in forged:
            send(secrets, app, credential, via)
            send(secrets, app, credential, via, path="/me")
            send(secrets, app, credential, via, method="POST", path="/set/k/x")
        # Log out everywhere, then replay.
        issue(secrets, app, "/logout-all", via, bob)
        assert send(secrets, app, bob, via, path="/me").status_code == 401

    # Remember-me without its companion.
    client = app.test_client()
    secrets.track(client.post("/login/alice?remember=1"))
    remember = client.get_cookie("remember_token")
    assert remember is not None
    stranger = app.test_client()
    stranger.set_cookie("remember_token", remember.value)
    secrets.track(stranger.get("/me"))

    # Garbage in Redis under a live server session.
    if mode != "jwt":
        server_credential = issue(secrets, app, "/big", "cookie")
        sid = send(secrets, app, server_credential).get_json()["sid"]
        for key in rdb.scan_iter(match=f"*{{s:{sid}}}", count=1000):
            for field in t.cast(list[bytes], rdb.hkeys(key)):
                rdb.hset(key, field, os.urandom(40))
        send(secrets, app, server_credential)

    # Key rotation, with and without the retired key.
    before = issue(secrets, app, "/set/k/v", "cookie")
    rotated = security_app(mode, SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[SECRET], **config)
    send(secrets, rotated, before)
    issue(secrets, rotated, "/set/k/w", "cookie", before)
    dropped = security_app(mode, SECRET_KEY=NEW_SECRET, **config)
    send(secrets, dropped, before)
    send(secrets, generated_naming, before)

    # Oversized jwt session: the exception's text.
    if mode == "jwt":
        with pytest.raises(SessionTooLarge) as caught:
            app.test_client(use_cookies=False).post("/big")
        secrets.exceptions.append(str(caught.value))

    # Warnings of configuration: a short secret, HttpOnly off, revocation off.
    weak = security_app(mode, SECRET_KEY=SHORT_SECRET, SESSION_COOKIE_HTTPONLY=False, **config)
    send(secrets, weak, issue(secrets, weak, "/set/k/v", "cookie"))
    if mode == "jwt":
        off = security_app("jwt", HYBRID_SESSION_REVOCATION=False)
        credential = issue(secrets, off, "/set/k/v", "cookie")
        with off.test_request_context():
            off.extensions["hybrid_session"].revoke("A" * 22)
        send(secrets, off, credential)

    # Redis down.
    down = security_app(
        mode, HYBRID_SESSION_REDIS_URL=own_server.url, HYBRID_SESSION_REDIS_TIMEOUT=0.2
    )
    held = {via: issue(secrets, down, "/login/alice", via) for via in VIAS}
    own_server.stop()
    for via, credential in held.items():
        assert send(secrets, down, credential, via, path="/me").status_code == 503
        assert (
            send(secrets, down, credential, via, method="POST", path="/set/k/x").status_code == 503
        )
    with down.test_request_context():
        with pytest.raises(StoreUnavailable) as failed:
            down.extensions["hybrid_session"].revoke_user("alice")
        secrets.exceptions.append(str(failed.value))
        secrets.exceptions.append(repr(failed.value))


@pytest.mark.parametrize("mode", MODES)
def test_hs46_no_credential_sid_or_key_in_any_log_record(
    mode: str,
    redis_url: str,
    rdb: redis.Redis,
    own_server: RedisServer,
    capture: Capture,
) -> None:
    secrets = Secrets()
    failure_suite(mode, redis_url, rdb, own_server, secrets)
    texts = capture.texts()
    # The suite did log what it should: rejections and the outage.
    assert any(r.name == "flask_hybridsession.security" for r in capture.records)
    assert any(r.levelno >= logging.ERROR for r in capture.records)
    assert any(r.levelno == logging.WARNING for r in capture.records)
    assert len(secrets.credentials) >= 10
    assert len(secrets.sids) >= 3
    assert secrets.leaks(texts) == []
    assert secrets.leaks(secrets.error_bodies) == []
    assert secrets.leaks(secrets.exceptions) == []


@pytest.mark.parametrize("mode", MODES)
def test_hs43_generated_naming_key_never_logged(
    mode: str, redis_url: str, capture: Capture
) -> None:
    app = security_app(mode, HYBRID_SESSION_REDIS_URL=redis_url)
    secrets = Secrets()
    issue(secrets, app, "/login/alice", "cookie")
    engine = getattr(app.session_interface, "engine", None)
    naming = getattr(getattr(engine, "naming", None), "cached", None)
    assert isinstance(naming, bytes)
    secrets.add_keys(naming)
    assert secrets.leaks(capture.texts()) == []


def test_leak_check_positive_control(capture: Capture) -> None:
    """The check finds a credential, a piece of one, a sid piece and a key."""
    secrets = Secrets()
    token = "eyJ" + b64e(os.urandom(90))
    secrets.credentials.add(token)
    secrets.sids.add(b64e(os.urandom(16)))
    secrets.add_keys(SECRET)
    logging.getLogger("flask_hybridsession.security").debug("token %s", token[10:50])
    logging.getLogger("x").info("sid=%s", next(iter(secrets.sids))[:16])
    logging.getLogger("y").error("key %s", ring().encryption[0].key.hex())
    leaks = secrets.leaks(capture.texts())
    assert {what for what, _, _ in leaks} == {"credential piece", "sid", "key material"}
