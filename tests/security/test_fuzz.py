"""HS-44 (and HS-37, HS-45): fuzzed cookies, Bearer headers, JWTs and Redis values.

Every case runs against an app of one mode (jwt, server, auto) on a real Redis,
with a victim session planted first (user alice, holding a marker value).
Whatever the input: no 5xx, no exception escaping to Flask (the apps propagate
exceptions, so one fails the test), and nothing of the victim's session (its
marker, its sid) in any response. Garbage in Redis is never an outage either
(no 503).

The budget: ``max_examples`` per test below, or HYBRID_SESSION_FUZZ_EXAMPLES
for each (``make fuzz``); each case has a deadline (HYBRID_SESSION_FUZZ_DEADLINE_MS).
The cases run per mode are printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import os
import time
import typing as t

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.http import dump_cookie
from werkzeug.test import TestResponse

from flask_hybridsession.testing import redis_keys
from flask_hybridsession.testing import settle_views

from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import body
from ..forging import read_jwt
from ..forging import send
from .strategies import JwtRecipe
from .strategies import Material
from .strategies import RedisRecipe
from .strategies import apply_recipe
from .strategies import authorization_values
from .strategies import cookie_values
from .strategies import jwt_recipes
from .strategies import redis_recipes
from .strategies import token_shaped_credentials
from .strategies import unstructured_credentials
from .support import FUZZ_CASES
from .support import Held
from .support import fuzz_deadline_ms
from .support import fuzz_examples
from .support import fuzz_seconds
from .support import login
from .support import ring

OTHER_SECRET: t.Final = "fuzz-other-secret-0123456789abcdef0123456789"
#: What /get/k may show for a fuzzed credential: nothing, or the attacker's own value.
OWN_VALUES: t.Final = ("None", "'attacker'", "'fuzz'")


def fuzz(default: int) -> t.Callable[[t.Callable[..., None]], t.Callable[..., None]]:
    return settings(
        max_examples=fuzz_examples(default),
        deadline=fuzz_deadline_ms(),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        database=None,
        print_blob=True,
    )


@dataclasses.dataclass
class Scene:
    """The app under test, its planted victims, and the attacker's own token."""

    mode: str
    app: Flask
    marker: str
    victims: list[Held]
    victim_claims: dict[str, t.Any]
    attacker_token: str
    #: time.monotonic() past which cases are skipped (HYBRID_SESSION_FUZZ_SECONDS).
    stop_at: float = float("inf")

    def case(self) -> bool:
        """Count one case, or say False once the time budget is spent."""
        if time.monotonic() > self.stop_at:
            return False
        FUZZ_CASES[self.mode] += 1
        return True

    @property
    def victim_sids(self) -> set[str]:
        return {victim.sid for victim in self.victims}

    def check(self, response: TestResponse, *, what: str) -> None:
        """No 5xx, and nothing of any victim's session."""
        assert response.status_code < 500, (what, response.status_code)
        assert response.status_code in (200, 302, 400, 401, 404, 405), (what, response.status_code)
        text = response.get_data(as_text=True)
        headers = str(response.headers)
        assert self.marker not in text and self.marker not in headers, what
        for sid in self.victim_sids:
            assert sid not in text and sid not in headers, what
        for victim in self.victims:
            assert victim.credential not in headers, what

    def victims_intact(self) -> None:
        for victim in self.victims:
            data = body(victim.get())
            assert data["value"] == repr(self.marker)
            assert data["sid"] == victim.sid


@pytest.fixture()
def scene(make_sec_app: AppFactory, mode: str) -> Scene:
    app = make_sec_app(mode)
    issuer = make_sec_app("jwt")
    marker = "victim-marker-" + os.urandom(6).hex()
    victims = []
    for target in (app, issuer):
        held, _ = login(target, "alice")
        victims.append(held.then(held.post(f"/set/k/{marker}")))
    if mode == "auto":
        held, _ = login(app, "alice")
        held = held.then(held.post("/big"))
        victims.append(held.then(held.post(f"/set/k/{marker}")))
    attacker, _ = login(issuer, "bob")
    attacker = attacker.then(attacker.post("/set/k/attacker"))
    seconds = fuzz_seconds()
    return Scene(
        mode=mode,
        app=app,
        marker=marker,
        victims=victims,
        victim_claims=read_jwt(victims[1].credential)[1],
        attacker_token=attacker.credential,
        stop_at=float("inf") if seconds is None else time.monotonic() + seconds,
    )


PATHS: t.Final = st.sampled_from([("GET", "/get/k"), ("POST", "/set/k/fuzz"), ("GET", "/me")])


def _fire(scene: Scene, credential: str, via: Via, method: str, path: str) -> TestResponse:
    client = scene.app.test_client(use_cookies=False)
    return send(client, credential, via, method=method, path=path)


@fuzz(900)
@given(value=cookie_values, route=PATHS)
def test_hs44_fuzz_cookie(scene: Scene, value: str, route: tuple[str, str]) -> None:
    if not scene.case():
        return
    method, path = route
    response = _fire(scene, value, "cookie", method, path)
    scene.check(response, what=path)
    if path == "/get/k":
        assert body(response)["value"] == "None"


@fuzz(900)
@given(value=authorization_values, route=PATHS, with_cookie=st.booleans())
def test_hs44_fuzz_authorization_header(
    scene: Scene, value: str, route: tuple[str, str], with_cookie: bool
) -> None:
    if not scene.case():
        return
    method, path = route
    raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
    environ = {"HTTP_AUTHORIZATION": raw}
    if with_cookie:
        # An attacker's header beside a cookie of the attacker's own.
        environ["HTTP_COOKIE"] = dump_cookie("session", scene.attacker_token, max_size=0)
    client = scene.app.test_client(use_cookies=False)
    response = client.open(path, method=method, environ_overrides=environ)
    scene.check(response, what=path)


def _survives_fresh(scene: Scene, response: TestResponse, credential: str) -> None:
    """No 5xx, no 503, nothing of a victim: a fresh empty session."""
    scene.check(response, what=credential[:120])
    assert response.status_code != 503
    data = response.get_json()
    assert isinstance(data, dict), response.status_code
    assert data["new"] is True
    assert data["value"] == "None"


@pytest.mark.parametrize("via", VIAS)
@fuzz(150)
@given(credential=unstructured_credentials)
def test_hs44_fuzz_unstructured_credentials(scene: Scene, via: Via, credential: str) -> None:
    if not scene.case():
        return
    _survives_fresh(scene, _fire(scene, credential, via, "GET", "/get/k"), credential)


@pytest.mark.parametrize("via", VIAS)
@fuzz(150)
@given(credential=token_shaped_credentials)
def test_hs44_fuzz_token_shaped_credentials(scene: Scene, via: Via, credential: str) -> None:
    if not scene.case():
        return
    _survives_fresh(scene, _fire(scene, credential, via, "GET", "/get/k"), credential)


@fuzz(900)
@given(recipe=jwt_recipes, via=st.sampled_from(VIAS), route=PATHS)
def test_hs44_fuzz_jwt_segments(
    scene: Scene, recipe: JwtRecipe, via: Via, route: tuple[str, str]
) -> None:
    if not scene.case():
        return
    kid, key = ring().signing[0]
    material = Material(
        token=scene.attacker_token,
        victim_claims=scene.victim_claims,
        key=key,
        real_kid=kid,
        other_kid=ring(OTHER_SECRET).signing[0][0],
        now=int(time.time()),
    )
    forged = apply_recipe(recipe, material)
    method, path = route
    response = _fire(scene, forged, via, method, path)
    scene.check(response, what=f"{path} {forged[:120]}")
    if path == "/get/k" and response.status_code == 200:
        # At most the attacker's own session (which an earlier case may have
        # written "fuzz" into, or moved into Redis), never anyone else's.
        assert body(response)["value"] in OWN_VALUES


def _keys_of(rdb: redis.Redis, app: Flask, sid: str) -> dict[str, str]:
    """The Redis keys of a live session and of its user, found as an admin would (SCAN)."""
    names = redis_keys(app, sid)
    found = {"key:session": names.session, "key:revoked": names.revoked}
    marks = [k.decode() for k in rdb.scan_iter(match=f"*{{s:{sid}}}:u", count=1000)]
    found["key:user-mark"] = marks[0] if marks else names.session + ":u"
    for index in rdb.scan_iter(match="*{u:*}:i", count=1000):
        if rdb.hexists(index, sid):
            found["key:user-index"] = index.decode()
            found["key:user-generation"] = index.decode()[:-2] + ":g"
    return found


def _write(rdb: redis.Redis, key: str, recipe: RedisRecipe, field: bytes | None) -> None:
    kind = recipe.kind
    if kind == "same":
        existing = t.cast(bytes, rdb.type(key))
        kind = existing.decode() if existing != b"none" else "string"
    if field is not None and kind == "hash":
        rdb.hset(key, field, recipe.value)
        return
    rdb.delete(key)
    if kind == "string":
        rdb.set(key, recipe.value, ex=3600)
        return
    if kind == "hash":
        rdb.hset(key, recipe.field or b"x", recipe.value)
    elif kind == "list":
        rdb.rpush(key, recipe.value)
    elif kind == "set":
        rdb.sadd(key, recipe.value)
    else:
        rdb.zadd(key, {recipe.value: 1.0})
    rdb.expire(key, 3600)


def _corrupt(rdb: redis.Redis, keys: dict[str, str], recipe: RedisRecipe) -> None:
    if recipe.target.startswith("field:"):
        session_key = keys["key:session"]
        if rdb.type(session_key) not in (b"hash", b"none"):
            rdb.delete(session_key)
        name = recipe.target[len("field:") :]
        if name == "data":
            stored = t.cast(dict[bytes, bytes], rdb.hgetall(session_key))
            fields = [f for f in stored if len(f) == 16]
            field = fields[0] if fields else os.urandom(16)
        elif name == "new":
            field = recipe.field or os.urandom(16)
        else:
            field = name.encode()
        rdb.hset(session_key, field, recipe.value)
        rdb.expire(session_key, 3600)
    else:
        _write(rdb, keys.get(recipe.target, keys["key:session"]), recipe, None)
    # Changed behind the app's back: let the revocation views hear of it.
    settle_views()


@fuzz(300)
@given(recipes=redis_recipes, big=st.booleans(), via=st.sampled_from(VIAS))
def test_hs44_fuzz_redis_values(
    scene: Scene, rdb: redis.Redis, recipes: list[RedisRecipe], big: bool, via: Via
) -> None:
    if not scene.case():
        return
    app = scene.app
    attacker, _ = login(app, "bob", via)
    if big and scene.mode != "jwt":
        attacker = attacker.then(attacker.post("/big"))
    attacker = attacker.then(attacker.post("/set/k/attacker"))
    keys = _keys_of(rdb, app, attacker.sid)
    try:
        for recipe in recipes:
            _corrupt(rdb, keys, recipe)
        for method, path in (("GET", "/get/k"), ("POST", "/set/k/fuzz"), ("GET", "/me")):
            response = _fire(scene, attacker.credential, via, method, path)
            scene.check(response, what=f"{path} {recipes}")
            assert response.status_code != 503, recipes
            if path == "/get/k" and response.status_code == 200:
                assert body(response)["value"] in OWN_VALUES
        scene.victims_intact()
    finally:
        # Garbage under bob's user keys would break the next case's login.
        rdb.delete(*(keys.get(k, "-") for k in ("key:user-index", "key:user-generation")))


def test_fuzz_material_opens_the_attackers_own_session(scene: Scene) -> None:
    """Positive control of the JWT recipes: the unchanged recipe re-signs the
    attacker's own token, which opens the attacker's session (and nothing else)."""
    kid, key = ring().signing[0]
    material = Material(scene.attacker_token, scene.victim_claims, key, kid, "x", int(time.time()))
    unchanged = JwtRecipe({}, {}, frozenset(), "real-key", (), None)
    token = apply_recipe(unchanged, material)
    assert token == scene.attacker_token
    for via in VIAS:
        assert body(_fire(scene, token, via, "GET", "/get/k"))["value"] == "'attacker'"


@pytest.mark.parametrize("target", ["key:user-index", "key:user-generation"])
@pytest.mark.parametrize("kind", ["string", "hash", "list", "set", "zset"])
def test_hs44_user_keys_of_another_type_are_garbage_not_an_outage(
    scene: Scene, rdb: redis.Redis, target: str, kind: str
) -> None:
    """Found by the Redis fuzz: a user key of another type made every request of
    that user's jwt sessions a 503 (user_check script); now it ends them."""
    attacker, _ = login(scene.app, "bob")
    keys = _keys_of(rdb, scene.app, attacker.sid)
    _corrupt(rdb, keys, RedisRecipe(target, kind, b"garbage", None))
    for via in VIAS:
        response = _fire(scene, attacker.credential, via, "GET", "/me")
        assert response.status_code in (200, 401), response.status_code
    scene.victims_intact()


@pytest.mark.parametrize("action", ["/logout", "/reauth", "login-again"])
def test_hs44_write_paths_over_a_garbage_user_index_are_not_an_outage(
    scene: Scene, rdb: redis.Redis, action: str
) -> None:
    """Found by the Redis fuzz too: these answered 503 (WRONGTYPE in the user_login,
    user_drop and user_revoke scripts); a bad index now holds no session."""
    attacker, _ = login(scene.app, "bob")
    keys = _keys_of(rdb, scene.app, attacker.sid)
    try:
        _corrupt(rdb, keys, RedisRecipe("key:user-index", "string", b"garbage", None))
        if action == "login-again":
            response = scene.app.test_client(use_cookies=False).post("/login/bob")
        else:
            response = attacker.post(action)
        assert response.status_code < 500, response.status_code
        if action == "/logout":
            assert attacker.me().status_code == 401
    finally:
        rdb.delete(keys["key:user-index"], keys["key:user-generation"])


def test_hs44_logout_everywhere_over_a_garbage_user_index_fails_closed(
    scene: Scene, rdb: redis.Redis
) -> None:
    """The sessions a garbage index listed cannot be found: log out everywhere
    answers 503 (StoreUnavailable) rather than claim it ended them."""
    attacker, _ = login(scene.app, "bob")
    keys = _keys_of(rdb, scene.app, attacker.sid)
    try:
        _corrupt(rdb, keys, RedisRecipe("key:user-index", "string", b"garbage", None))
        assert attacker.post("/logout-all").status_code == 503
        # The next login starts a new index, and log out everywhere works again.
        again, _ = login(scene.app, "bob")
        assert again.post("/logout-all").status_code == 200
        assert again.me().status_code == 401
    finally:
        rdb.delete(keys["key:user-index"], keys["key:user-generation"])


#: Not a generation: other types, and strings Lua's tonumber() would read as numbers.
GARBAGE_GENERATIONS: t.Final = [
    ("string", b"garbage"),
    *(("string", value) for value in (b"nan", b"inf", b"-inf", b"1e400", b"0x10", b"1.5", b"-5")),
    ("string", b"1" * 19),
    ("hash", b"garbage"),
    ("list", b"garbage"),
]


@pytest.mark.parametrize(("kind", "value"), GARBAGE_GENERATIONS)
def test_hs44_login_over_a_garbage_user_generation_is_not_an_outage(
    scene: Scene, rdb: redis.Redis, kind: str, value: bytes
) -> None:
    attacker, _ = login(scene.app, "bob")
    keys = _keys_of(rdb, scene.app, attacker.sid)
    try:
        _corrupt(rdb, keys, RedisRecipe("key:user-generation", kind, value, None))
        # A garbage generation proves nothing: every credential of the user
        # is refused, a server session's too (fail closed).
        assert attacker.me().status_code == 401
        # Login restarts the generation above any counter, and works.
        again, _ = login(scene.app, "bob")
        assert again.me().text == "bob"
        # Log out everywhere over a garbage generation restarts it too, and ends everything.
        _corrupt(rdb, keys, RedisRecipe("key:user-generation", kind, value, None))
        with scene.app.test_request_context():
            scene.app.extensions["hybrid_session"].revoke_user("bob")
        assert again.me().status_code == 401
        assert attacker.me().status_code == 401
        last, _ = login(scene.app, "bob")
        assert last.post("/logout-all").status_code == 200
        assert last.me().status_code == 401
        assert login(scene.app, "bob")[0].me().text == "bob"
    finally:
        rdb.delete(keys["key:user-index"], keys["key:user-generation"])
