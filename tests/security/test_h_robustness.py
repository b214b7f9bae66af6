"""H. Robustness, caching, CSRF: HS-44, HS-45, HS-47, HS-48.

HS-44's fuzzing is in test_fuzz.py and HS-46 (no credential in logs) in
test_logging.py.
"""

from __future__ import annotations

import re
import statistics
import time
import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import AppFactory
from ..conftest import RedisServer
from .support import MODES
from .support import VIAS
from .support import Via
from .support import assert_refused
from .support import b64e
from .support import login
from .support import present
from .support import redis_calls
from .support import segment
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
    from .support import send

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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "credential",
    ["*", "a\r\nFLUSHALL", "A" * 10240, "v1." + "A" * 10240, "sé" * 40, "v1." + "é" * 64],
    ids=["star", "crlf-flushall", "10KB", "server-10KB", "non-ascii", "server-non-ascii"],
)
def test_hs45_format_is_checked_before_redis(
    make_sec_app: AppFactory, mode: str, via: Via, credential: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    before = redis_calls(rdb)
    assert_refused(present(app, credential, via))
    assert redis_calls(rdb) == before


@pytest.mark.parametrize("mode", MODES)
def test_hs45_positive_control_a_well_formed_token_reaches_redis(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    before = redis_calls(rdb)
    assert_refused(present(app, "v1." + "A" * 64))
    assert redis_calls(rdb) > before


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
