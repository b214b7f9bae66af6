"""The shortcuts of the hot path give exactly what the long way gives.

- the serializer writes Flask's tagged JSON byte for byte and reads it back
  the same, with and without an app's own tag;
- the verified-token cache never lets a token through that the full check
  would refuse: expiry, revocation, a retired key, a changed secret;
- the cookie size is measured exactly, as werkzeug would write the header;
- a logged-in jwt's revocation checks are one script on one server.
"""

from __future__ import annotations

import datetime
import typing as t
import uuid

import pytest
import redis
from flask import Flask
from flask.json.tag import JSONTag
from flask.json.tag import TaggedJSONSerializer
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from markupsafe import Markup
from werkzeug.http import dump_cookie

from flask_hybridsession import ConfigurationError
from flask_hybridsession.interface import HybridSessionInterface
from flask_hybridsession.serialization import SessionSerializer
from flask_hybridsession.session import HybridSessionData

from ..conftest import SECRET
from ..conftest import AppFactory
from ..conftest import RedisServer
from ..conftest import TripCounter
from ..conftest import build_app
from ..conftest import build_login_app
from ..conftest import counting_client
from ..conftest import with_clock
from .support import credential_of

# Serializer.

_TAG_KEYS = st.sampled_from([" t", " b", " m", " u", " d", " di", " x", "t", "a b"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=8)
    | st.uuids()
    | st.datetimes(timezones=st.just(datetime.UTC)).map(lambda d: d.replace(microsecond=0))
    | st.text(max_size=5).map(Markup)
)


def _nested(leaves: st.SearchStrategy[t.Any], width: int, max_leaves: int) -> t.Any:
    """Lists, tuples and dicts (a tag-like key now and then) of ``leaves``, nested."""
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=width)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=4) | _TAG_KEYS, inner, max_size=width)
            | st.builds(lambda k, v: {k: v}, _TAG_KEYS, inner)
        ),
        max_leaves=max_leaves,
    )


_VALUES = _nested(_SCALARS, width=4, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES)
def test_serializer_writes_and_reads_as_flask_does(value: t.Any) -> None:
    ours, flask = SessionSerializer(), TaggedJSONSerializer()
    text = ours.dumps(value)
    assert text == flask.dumps(value)
    assert ours.loads(text) == flask.loads(text)
    assert ours.loads(text.encode()) == flask.loads(text)


def test_serializer_round_trips_the_drop_in_types() -> None:
    serializer = SessionSerializer()
    value = {
        "t": (1, (2, b"\x00")),
        "m": Markup("<b>x</b>"),
        "u": uuid.UUID(int=7),
        "d": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "looks tagged": {" t": [1]},
        "space": " t",
    }
    back = serializer.loads(serializer.dump_bytes(value))
    assert back == value
    assert type(back["t"]) is tuple and type(back["m"]) is Markup


_PLAIN_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
#: Now and then a value tagging changes, at any depth.
_LEAVES = _PLAIN_SCALARS | st.binary(max_size=3) | st.text(max_size=3).map(Markup)
#: Wider and deeper, mostly plain, so "plain" comes out true at depth too.
_NESTED = _nested(_LEAVES, width=12, max_leaves=60)
_SHALLOW_PLAIN = (
    _PLAIN_SCALARS
    | st.dictionaries(st.text(max_size=3) | _TAG_KEYS, _PLAIN_SCALARS, max_size=3)
    | st.lists(_PLAIN_SCALARS, max_size=3)
)
_SHALLOW = _SHALLOW_PLAIN | _LEAVES | st.lists(_LEAVES, max_size=3).map(tuple)


@settings(max_examples=200, deadline=None)
@given(
    value=_NESTED
    # Long enough for the level-by-level check (over 64 members).
    | st.lists(_SHALLOW_PLAIN, min_size=65, max_size=80)
    | st.lists(_SHALLOW, min_size=65, max_size=80)
    | st.dictionaries(st.text(min_size=2, max_size=4), _SHALLOW_PLAIN, min_size=65, max_size=70)
)
def test_plain_check_agrees_with_flasks_tagging(value: t.Any) -> None:
    # Wide and deep values, now and then a tuple, bytes, Markup or a dict that
    # looks tagged at any depth: "plain" exactly when tagging changes nothing.
    ours, flask = SessionSerializer(), TaggedJSONSerializer()
    tagged = flask.tag(value)
    plain = type(tagged) is type(value) and ours.dumps(value) == ours.dumps(tagged)
    assert ours._is_plain(value) is (plain and tagged == value)
    assert ours.dumps(value) == flask.dumps(value)


def test_a_cycle_or_a_too_deep_value_fails_as_in_flask() -> None:
    ours, flask = SessionSerializer(), TaggedJSONSerializer()
    cycle: list[t.Any] = []
    cycle.append({"again": cycle})
    branching: list[t.Any] = []
    branching += [branching, branching]  # each level twice the last
    wide: list[t.Any] = []
    wide += [wide] * 10_000  # the level-by-level check: bounded, never 10,000 squared
    deep: list[t.Any] = []
    for _ in range(5000):
        deep = [deep]
    assert ours._is_plain(wide) is False
    for value in (cycle, branching, wide, deep):
        with pytest.raises(RecursionError):
            flask.dumps(value)
        with pytest.raises(RecursionError):
            ours.dumps(value)


class _Upper(JSONTag):
    """An app tag that claims every str (registered first): the shortcut must step aside."""

    key = " up"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, str)

    def to_json(self, value: t.Any) -> t.Any:
        return value.upper()

    def to_python(self, value: t.Any) -> t.Any:
        return value.lower()


def test_an_app_tag_sees_every_value() -> None:
    ours, flask = SessionSerializer(), TaggedJSONSerializer()
    for serializer in (ours, flask):
        serializer.register(_Upper, index=0)
    value = {"cart": ["abc", {"x": "y"}]}
    assert ours.dumps(value) == flask.dumps(value)
    assert '" up"' in ours.dumps(value)
    assert ours.loads(ours.dumps(value)) == value


# The verified-token cache.


def _interface(app: Flask) -> HybridSessionInterface:
    return t.cast(HybridSessionInterface, app.session_interface)


@pytest.mark.parametrize("size", [-1, 1.5, True, "8", 65537])
def test_token_cache_size_is_checked(size: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_app("jwt", HYBRID_SESSION_REVOCATION=False, HYBRID_SESSION_TOKEN_CACHE=size)
    assert info.value.key == "HYBRID_SESSION_TOKEN_CACHE"


def test_an_issued_token_is_remembered_and_opens(make_app: AppFactory) -> None:
    app = make_app("jwt")
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    assert _interface(app).engine.jwt_store.verified.get(token) is not None
    assert client.get("/get/k").json["value"] == "'v'"


def test_cache_off_remembers_nothing(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_TOKEN_CACHE=0)
    client = app.test_client()
    client.post("/set/k/v")
    assert client.get("/get/k").json["value"] == "'v'"
    assert not _interface(app).engine.jwt_store.verified._entries


def test_cache_is_bounded_oldest_out(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_TOKEN_CACHE=3)
    client = app.test_client()
    tokens = []
    for n in range(5):
        client.post(f"/set/k/{n}")
        tokens.append(credential_of(client))
    cache = _interface(app).engine.jwt_store.verified
    assert list(cache._entries) == tokens[-3:]
    # An evicted token still opens: the cache only spares work.
    other = app.test_client()
    other.set_cookie("session", tokens[0])
    assert other.get("/get/k").json["value"] == "'0'"


def test_a_remembered_token_still_expires_on_time(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_IDLE_TIMEOUT=60)
    clock = with_clock(app)
    client = app.test_client()
    client.post("/set/k/v")
    cookie = client.get_cookie("session")
    assert cookie is not None
    entry = _interface(app).engine.jwt_store.verified.get(cookie.value)
    assert entry is not None
    expires = entry.claims["exp"]
    # A client that keeps sending this very token (no cookie jar).
    stale = app.test_client(use_cookies=False)
    headers = {"Cookie": f"session={cookie.value}"}
    clock.now = expires - 0.5
    assert stale.get("/get/k", headers=headers).json["value"] == "'v'"
    clock.now = expires
    assert stale.get("/get/k", headers=headers).json["new"] is True


def test_a_remembered_token_is_still_checked_for_revocation(make_app: AppFactory) -> None:
    app = make_app("jwt")
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    sid = client.get("/get/k").json["sid"]
    with app.app_context():
        # False: Redis never held this guest's session; the mark is written anyway.
        app.extensions["hybrid_session"].revoke(sid)
    assert _interface(app).engine.jwt_store.verified.get(token) is not None
    replay = app.test_client()
    replay.set_cookie("session", token)
    assert replay.get("/get/k").json["new"] is True


def test_a_remembered_token_dies_with_its_secret(make_app: AppFactory) -> None:
    app = make_app("jwt", HYBRID_SESSION_REVOCATION=False)
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    assert _interface(app).engine.jwt_store.verified.get(token) is not None
    # Rotated with the old secret kept as a fallback: still valid...
    app.config.update(SECRET_KEY=SECRET + "-new", SECRET_KEY_FALLBACKS=[SECRET])
    replay = app.test_client()
    replay.set_cookie("session", token)
    assert replay.get("/get/k").json["value"] == "'v'"
    # ...and once the old secret is dropped, refused though it was remembered.
    app.config.update(SECRET_KEY_FALLBACKS=[])
    replay = app.test_client()
    replay.set_cookie("session", token)
    assert replay.get("/get/k").json["new"] is True


# Cookie size.

_ATTRS = st.fixed_dictionaries(
    {
        "SESSION_COOKIE_NAME": st.sampled_from(["session", "s", "__Secure-session"]),
        "SESSION_COOKIE_DOMAIN": st.none() | st.sampled_from(["example.org", "a.b.example"]),
        "SESSION_COOKIE_PATH": st.sampled_from(["/", "/app", "/a/b/"]),
        "SESSION_COOKIE_SECURE": st.booleans(),
        "SESSION_COOKIE_HTTPONLY": st.booleans(),
        "SESSION_COOKIE_SAMESITE": st.sampled_from([None, "Lax", "Strict", "None"]),
        "SESSION_COOKIE_PARTITIONED": st.booleans(),
    }
)


@settings(max_examples=120, deadline=None)
@given(
    config=_ATTRS,
    value=st.text(alphabet="AZaz09_-.", max_size=900) | st.text(max_size=20),
    expires=st.none() | st.integers(min_value=0, max_value=2**31),
)
def test_cookie_size_is_the_header_werkzeug_writes(
    config: dict[str, t.Any], value: str, expires: int | None
) -> None:
    try:
        app = build_app("jwt", HYBRID_SESSION_REVOCATION=False, **config)
    except ConfigurationError:
        assume(False)  # a combination browsers refuse (__Host- without Secure...)
    interface = _interface(app)
    attrs = interface._attrs(app, expires)
    exact = dump_cookie(interface.get_cookie_name(app), value, max_size=0, **attrs)
    assert interface.cookie_size(app, value, expires) == len(exact)


# One script for a logged-in jwt's checks.


def test_logged_in_jwt_read_is_one_script(redis_server: RedisServer, rdb: redis.Redis) -> None:
    counter = TripCounter()
    app = build_login_app("jwt", HYBRID_SESSION_REDIS=counting_client(redis_server, counter))
    client = app.test_client()
    assert client.post("/login/alice").status_code == 200
    assert client.get("/me").status_code == 200  # scripts loaded, connection open
    stats = redis_server.client()
    before = int(stats.info("commandstats")["cmdstat_evalsha"]["calls"])
    trips = counter.trips
    assert client.get("/me").get_data(as_text=True) == "alice"
    assert counter.trips - trips == 1
    assert int(stats.info("commandstats")["cmdstat_evalsha"]["calls"]) - before == 1
    # And the one script still sees "log out everywhere".
    with app.test_request_context():
        assert app.extensions["hybrid_session"].revoke_user("alice") >= 1
    assert client.get("/me").status_code == 401


# auto's size check.


@pytest.mark.parametrize("size", range(1500, 2600, 60))
def test_auto_fits_agrees_with_the_token_it_would_issue(make_app: AppFactory, size: int) -> None:
    app = make_app("auto", HYBRID_SESSION_REVOCATION=False)
    interface = _interface(app)
    with app.test_request_context():
        secrets = interface.engine.secrets(app.config)
        assert secrets is not None
        ctx = interface.context(app, secrets, "cookie")
        current = HybridSessionData({"k": "x" * size})
        current._state.stored.created = int(ctx.now)  # as a saved session has it
        token, verified = interface.engine.jwt_store._mint(
            ctx, current.sid, current._state, dict(current)
        )
        exact = ctx.cookie_size(token, verified.claims["exp"])
        for limit in (exact - 1, exact, exact + 1, 4000):
            assert interface.engine.jwt_store.fits(ctx, current, limit) is (exact <= limit)


# A login signs its token once.


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_a_login_signs_its_token_once(
    make_login_app: AppFactory, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login's size check measures the token unsigned; only the issued one is signed."""
    app = make_login_app(mode)
    codec = _interface(app).engine.jwt_store.codec
    signed: list[str] = []
    encode = codec.encode

    def counting(ring: t.Any, claims: dict[str, t.Any]) -> str:
        token = encode(ring, claims)
        signed.append(token)
        return token

    monkeypatch.setattr(codec, "encode", counting)
    client = app.test_client()
    assert client.post("/login/alice").status_code == 200
    cookie = credential_of(client)
    assert signed == [cookie]
    assert client.get("/me").text == "alice"
