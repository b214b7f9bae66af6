"""H. Robustness, caching, CSRF: HS-44, HS-45, HS-47, HS-48.

A malformed credential, or garbage where a session's Redis keys belong, opens
a fresh empty session: never a 5xx, and never a 503 (garbage is not an
outage). HS-44's fuzzing is in test_fuzz.py and HS-46 (no credential in logs)
in test_logging.py.
"""

from __future__ import annotations

import os
import re
import statistics
import time
import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from flask_hybridsession.testing import SessionKeys
from flask_hybridsession.testing import redis_keys

from ..conftest import AppFactory
from ..conftest import RedisServer
from ..forging import VIAS
from ..forging import Minted
from ..forging import Via
from ..forging import assert_fresh
from ..forging import b64e
from ..forging import jws
from ..forging import present
from ..forging import segment
from ..forging import send
from ..forging import signed
from .support import MODES
from .support import assert_refused
from .support import login
from .support import redis_calls
from .support import replace_with
from .support import start

MALFORMED: t.Final[dict[str, t.Callable[[str], str]]] = {
    "1-segment": lambda tok: tok.split(".")[0],
    "2-segments": lambda tok: tok.rsplit(".", 1)[0],
    "4-segments": lambda tok: tok + ".AAAA",
    "empty": lambda tok: "",
    "dots": lambda tok: "..",
    "non-base64": lambda tok: tok[:10] + "!" + tok[11:],
    "non-utf8-header": lambda tok: b64e(b"\xff\xfe") + tok[tok.index(".") :],
    "header-array": lambda tok: segment([1]) + tok[tok.index(".") :],
    "header-deep": lambda tok: b64e(b"[" * 5000) + tok[tok.index(".") :],
    "header-duplicate-keys": lambda tok: (
        b64e(b'{"alg":"none","alg":"HS256"}') + tok[tok.index(".") :]
    ),
    "payload-not-object": lambda tok: tok.split(".")[0] + "." + segment("x") + ".AAAA",
    "exp-nan": lambda tok: tok.split(".")[0] + "." + b64e(b'{"exp":NaN}') + ".AAAA",
    "exp-1e309": lambda tok: tok.split(".")[0] + "." + b64e(b'{"exp":1e309}') + ".AAAA",
    "64KB": lambda tok: tok + "A" * 65536,
    "64KB-server": lambda tok: "v1." + "A" * 65536,
    "non-ascii": lambda tok: "é" * 100,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs44_malformed_tokens_never_5xx_and_stay_fast(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, via: Via
) -> None:
    token = start(jwt_issuer).credential
    app = make_sec_app(mode)
    client = app.test_client(use_cookies=False)
    send(client, token, via)  # warm up
    timings = []
    for name, forge in MALFORMED.items():
        began = time.perf_counter()
        response = send(client, forge(token), via)
        timings.append(time.perf_counter() - began)
        assert response.status_code in (200, 400, 401), name
        assert_refused(response)
    # Loose bounds on a shared 2-core host: a 64 KB token costs no more than a
    # small one (length is checked before any parsing).
    assert statistics.quantiles(timings, n=20)[-1] < 0.25
    assert max(timings) < 1.0


NESTED_1000: t.Final = b64e(b"[" * 1000 + b"]" * 1000)
NOT_UTF8: t.Final = b64e(b"\xff\xfe\xfd")

#: Malformed credentials made from a real token (or from nothing), one per case.
MALFORMED_CREDENTIALS: t.Final[dict[str, t.Callable[[Minted], str]]] = {
    "truncated-to-1-char": lambda m: m.token[:1],
    "truncated-in-header": lambda m: m.token[:10],
    "truncated-at-first-dot": lambda m: m.token[: m.token.index(".")],
    "truncated-after-first-dot": lambda m: m.token[: m.token.index(".") + 1],
    "truncated-in-payload": lambda m: m.token[: len(m.token) // 2],
    "truncated-in-signature": lambda m: m.token[: m.token.rindex(".") + 5],
    "oversized-9KB": lambda m: m.token + "A" * (9 * 1024),
    "oversized-64KB": lambda m: m.token + "A" * (64 * 1024),
    "b64-padded": lambda m: ".".join(p + "=" * (-len(p) % 4) for p in m.token.split(".")),
    "b64-standard-alphabet": lambda m: m.token.replace("-", "+").replace("_", "/") + "+/",
    "b64-bang": lambda m: m.token[:20] + "!" + m.token[21:],
    "b64-space": lambda m: m.token[:20] + " " + m.token[21:],
    "b64-non-ascii": lambda m: m.token[:20] + "é" + m.token[21:],
    "trailing-nul": lambda m: m.token + "\x00",
    "b64-of-non-json": lambda m: f"{b64e(b'hello')}.{b64e(b'world')}.{b64e(b'sig')}",
    # Validly signed with the app's own key: JSON that is not an object, or
    # that is no JSON at all, reaches the parser past the signature check.
    "header-json-array": lambda m: jws([m.header], m.claims, m.key),
    "payload-json-array": lambda m: jws(m.header, [m.claims], m.key),
    "payload-json-number": lambda m: jws(m.header, 42, m.key),
    "payload-json-string": lambda m: jws(m.header, "claims", m.key),
    "header-deeply-nested": lambda m: f"{b64e(b'[' * 2000)}.{segment(m.claims)}.AAAA",
    "payload-nested-1000": lambda m: signed(f"{segment(m.header)}.{NESTED_1000}", m.key),
    "header-not-utf8": lambda m: signed(f"{NOT_UTF8}.{segment(m.claims)}", m.key),
    "payload-not-utf8": lambda m: signed(f"{segment(m.header)}.{NOT_UTF8}", m.key),
    "1-segment": lambda m: m.token.split(".")[0],
    "2-segments": lambda m: m.token.rsplit(".", 1)[0],
    "4-segments": lambda m: m.token + ".AAAA",
    "5-segments": lambda m: m.token + ".AAAA.AAAA",
    "dots-only": lambda m: "..",
    "empty": lambda m: "",
    "non-ascii": lambda m: "é" * 40,
    "crlf-flushall": lambda m: "a\r\nFLUSHALL",
    "star": lambda m: "*",
    "server-63-chars": lambda m: "v1." + "A" * 63,
    "server-65-chars": lambda m: "v1." + "A" * 65,
    "server-v2": lambda m: "v2." + "A" * 64,
    "server-V1": lambda m: "V1." + "A" * 64,
    "server-no-dot": lambda m: "v1" + "A" * 64,
    "server-standard-b64": lambda m: "v1." + "A" * 62 + "+/",
    "server-10KB": lambda m: "v1." + "A" * 10240,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forgery", list(MALFORMED_CREDENTIALS))
def test_hs44_malformed_credential_opens_a_fresh_session(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, forgery: str
) -> None:
    forged = MALFORMED_CREDENTIALS[forgery](minted)
    assert forged != minted.token
    assert_fresh(present(make_sec_app(mode), forged, via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "credential",
    [
        pytest.param("*", id="star"),
        pytest.param("a\r\nFLUSHALL", id="crlf-flushall"),
        pytest.param("A" * 10240, id="10KB"),
        pytest.param("v1." + "A" * 10240, id="server-10KB"),
        pytest.param("sé" * 40, id="non-ascii"),
        pytest.param("v1." + "é" * 64, id="server-non-ascii"),
        pytest.param("v1." + "A" * 63, id="server-63-chars"),
        pytest.param("hs:{s:AAAAAAAAAAAAAAAAAAAAAA}", id="redis-key-name"),
        pytest.param("a.b.c", id="jwt-shaped-unsigned"),
    ],
)
def test_hs45_format_is_checked_before_redis(
    make_sec_app: AppFactory, mode: str, via: Via, credential: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    keys = set(rdb.scan_iter(count=1000))
    before = redis_calls(rdb)
    assert_fresh(present(app, credential, via))
    assert redis_calls(rdb) == before
    assert set(rdb.scan_iter(count=1000)) == keys  # nothing written either


@pytest.mark.parametrize("mode", MODES)
def test_hs45_positive_control_a_well_formed_token_reaches_redis(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    before = redis_calls(rdb)
    assert_refused(present(app, "v1." + "A" * 64))
    assert redis_calls(rdb) > before


def _garbage_hash(rdb: redis.Redis, key: str) -> None:
    """A live-looking hash (its deadline ahead) of which nothing opens."""
    now_ms = int(time.time() * 1000)
    rdb.delete(key)
    rdb.hset(
        key,
        mapping={
            b"t": os.urandom(32),
            b"a": now_ms + 3_600_000,
            b"l": now_ms,
            b"m": os.urandom(60),
            os.urandom(16): os.urandom(60),
        },
    )


REDIS_GARBAGE: t.Final[dict[str, t.Callable[[redis.Redis, SessionKeys], object]]] = {
    "string": lambda rdb, keys: replace_with(rdb, keys.session, "string"),
    "list": lambda rdb, keys: replace_with(rdb, keys.session, "list"),
    "set": lambda rdb, keys: replace_with(rdb, keys.session, "set"),
    "zset": lambda rdb, keys: replace_with(rdb, keys.session, "zset"),
    "garbage-hash": lambda rdb, keys: _garbage_hash(rdb, keys.session),
    "mark-wrong-type": lambda rdb, keys: rdb.hset(keys.revoked, "x", "garbage"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("garbage", list(REDIS_GARBAGE))
@pytest.mark.parametrize("credential_kind", ["server", "jwt"])
@pytest.mark.parametrize("request_kind", ["read", "write"])
def test_hs44_garbage_in_redis_is_never_an_outage(
    make_sec_app: AppFactory,
    rdb: redis.Redis,
    mode: str,
    garbage: str,
    credential_kind: str,
    request_kind: str,
) -> None:
    """A key of the wrong type or a hash of garbage where a session's keys
    belong: a 200, never a 503 (garbage is not an outage)."""
    issuing = make_sec_app(credential_kind)
    victim = start(issuing)
    REDIS_GARBAGE[garbage](rdb, redis_keys(issuing, victim.sid))
    app = make_sec_app(mode)
    for via in VIAS:
        if request_kind == "read":
            response = present(app, victim.credential, via)
        else:
            response = present(app, victim.credential, via, method="POST", path="/set/k/w")
        assert response.status_code == 200, response.status_code
        assert "Retry-After" not in response.headers
        if credential_kind == "server" and request_kind == "read":
            assert_fresh(response, victim.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs47_vary_on_any_access_and_no_store_on_credentials(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    app = make_sec_app(mode)
    held, response = login(app, "alice", via)
    cache = response.headers.get("Cache-Control", "")
    assert "no-store" in cache
    if via == "cookie":
        assert "private" in cache
    for path in ("/peek", "/len", "/keys"):
        accessed = held.get(path)
        assert accessed.status_code == 200
        vary = {v.strip() for v in accessed.headers.get("Vary", "").split(",")}
        assert ("Cookie" if via == "cookie" else "Authorization") in vary, path
    # Positive control, on an app without Flask-Login (whose after_request reads
    # the session on every response): a route that never touches it varies on nothing.
    from ..conftest import build_app

    plain = build_app(mode, HYBRID_SESSION_REDIS_URL=held.app.config["HYBRID_SESSION_REDIS_URL"])
    assert "Vary" not in present(plain, held.credential, via, path="/").headers
    assert "Vary" in present(plain, held.credential, via, path="/peek").headers
    # Even a visitor with no credential: `in` marks the session accessed.
    anonymous = app.test_client(use_cookies=False).get("/peek")
    assert "Cookie" in anonymous.headers.get("Vary", "")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs47_no_store_drops_what_a_view_said_a_cache_may_keep(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """SPEC 2026-12-04: never ``public, max-age=600, private, no-store`` at once."""
    from flask import session

    app = make_sec_app(mode)

    @app.post("/cached")
    def cached() -> t.Any:
        session["k"] = "v"
        return "ok", 200, {"Cache-Control": "public, max-age=600, s-maxage=60, must-revalidate"}

    if via == "cookie":
        response = app.test_client().post("/cached")
    else:
        response = app.test_client(use_cookies=False).post(
            "/cached", headers={"X-Session-Token": "new"}
        )
    control = response.cache_control
    assert control.no_store and control.must_revalidate
    assert not control.public and control.max_age is None and control.s_maxage is None
    assert bool(control.private) is (via == "cookie")


@pytest.fixture()
def shop(redis_server: RedisServer, rdb: redis.Redis, mode: str) -> Flask:
    from example_app import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "shop-secret-0123456789abcdef0123456789abcd",
            "HYBRID_SESSION_MODE": mode,
            "HYBRID_SESSION_REDIS_URL": redis_server.url,
        }
    )


def _csrf(client: FlaskClient, path: str = "/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("mode", MODES)
def test_hs48_shop_forms_need_the_session_csrf_token(shop: Flask) -> None:
    client = shop.test_client()
    token = _csrf(client)
    assert client.post("/cart/add/1", data={"quantity": "1"}).status_code == 400
    assert client.post("/cart/add/1", data={"quantity": "1", "csrf_token": "x"}).status_code == 400
    ok = client.post("/cart/add/1", data={"quantity": "1", "csrf_token": token})
    assert ok.status_code == 302
    # The login form too, and the default cookie is SameSite=Lax.
    assert (
        client.post("/login", data={"username": "alice", "password": "wonderland"}).status_code
        == 400
    )
    cookie = [h for h in ok.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert all("SameSite=Lax" in h for h in cookie)


@pytest.mark.parametrize("mode", MODES)
def test_hs48_bearer_api_is_exempt(shop: Flask) -> None:
    client = shop.test_client(use_cookies=False)
    login_response = client.post(
        "/api/login",
        json={"username": "bob", "password": "builder"},
        headers={"X-Session-Token": "new"},
    )
    assert login_response.status_code == 200
    auth = {"Authorization": f"Bearer {login_response.headers['X-Session-Token']}"}
    added = client.post("/api/cart", json={"product_id": 4, "quantity": 1}, headers=auth)
    assert added.status_code == 200


@pytest.mark.parametrize("mode", MODES)
def test_hs48_flask_wtf_csrf_works_with_our_session(make_sec_app: AppFactory, mode: str) -> None:
    flask_wtf = pytest.importorskip("flask_wtf.csrf", reason="Flask-WTF is not installed")
    app = make_sec_app(mode, WTF_CSRF_ENABLED=True)
    flask_wtf.CSRFProtect(app)

    @app.get("/form")
    def form() -> str:
        return str(flask_wtf.generate_csrf())

    @app.post("/submit")
    def submit() -> str:
        return "done"

    client = app.test_client()
    token = client.get("/form").text
    assert client.post("/submit").status_code == 400
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200
