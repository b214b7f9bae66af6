"""What every mode must keep: Flask's session contract, on a real Redis."""

from __future__ import annotations

import datetime
import typing as t
import uuid

import pytest
from flask import Flask
from flask import session
from markupsafe import Markup

from flask_hybridsession.session import HybridSessionData

from ..conftest import AppFactory

VALUES: list[t.Any] = [
    {"a": 1, "nested": {"b": [1, 2, {"c": None}]}},
    [1, "two", 3.5, True, None],
    "text with ünïcödé and \u2028 and a lone surrogate \ud800",
    12345678901234567890,
    -0.125,
    False,
    None,
    b"\x00\xffbytes",
    (1, "tuple", (2, 3)),
    datetime.datetime(2026, 11, 25, 17, 0, 5, tzinfo=datetime.UTC),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Markup("<b>safe</b>"),
    {" t": "a dict whose key looks like a tag"},
    {"": "empty key"},
]


def _current() -> HybridSessionData:
    return t.cast(HybridSessionData, session)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_tagged_values_round_trip(app: Flask, value: t.Any) -> None:
    seen: list[t.Any] = []

    @app.post("/put")
    def put() -> str:
        session["v"] = value
        return "ok"

    @app.get("/take")
    def take() -> str:
        seen.append(session["v"])
        return "ok"

    client = app.test_client()
    client.post("/put")
    client.get("/take")
    assert seen == [value]
    assert type(seen[0]) is type(value)


def test_untouched_new_session_sets_no_cookie(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/")
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("session") is None


def test_reading_an_empty_new_session_sets_no_cookie_but_varies(app: Flask) -> None:
    response = app.test_client().get("/peek")
    assert response.text == "False"
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]


def test_flags_new_modified_and_sid(app: Flask) -> None:
    flags: list[tuple[bool, bool, str]] = []

    @app.get("/flags")
    def flags_view() -> str:
        current = _current()
        flags.append((current.new, current.modified, current.sid))
        return "ok"

    client = app.test_client()
    client.get("/flags")
    client.post("/set/k/v")
    client.get("/flags")
    client.get("/flags")
    assert flags[0][:2] == (True, False)
    assert flags[1][:2] == (False, False)
    # The sid is stable across requests once the session exists.
    assert flags[1][2] == flags[2][2]
    assert len(flags[1][2]) == 22


def test_cookie_attributes_default_to_httponly_lax(app: Flask) -> None:
    response = app.test_client().post("/set/k/v")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires" not in cookie  # not permanent: a browser-session cookie
    assert "Domain" not in cookie
    assert "Path=/" in cookie
    assert "no-store" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]


def test_samesite_set_after_init_wins(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    cookie = app.test_client().post("/set/k/v").headers["Set-Cookie"]
    assert "SameSite=Strict" in cookie


def test_permanent_session_gets_expiry_within_lifetime(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode, PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=1))

    @app.post("/remember")
    def remember() -> str:
        session.permanent = True
        session["k"] = "v"
        return "ok"

    response = app.test_client().post("/remember")
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie
    expires = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    stamp = expires.split("Expires=")[1].split(";")[0]
    when = datetime.datetime.strptime(stamp, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=datetime.UTC
    )
    left = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 3590 <= left <= 3601


def test_data_persists_and_updates(app: Flask) -> None:
    client = app.test_client()
    client.post("/set/a/1")
    client.post("/set/b/2")
    client.post("/set/a/3")
    assert client.get("/get/a").json["value"] == "'3'"
    assert client.get("/get/b").json["value"] == "'2'"


def test_nested_mutation_needs_modified_flag_like_flask(app: Flask) -> None:
    @app.post("/init")
    def init() -> str:
        session["cart"] = {"items": []}
        return "ok"

    @app.post("/append/<flag>")
    def append(flag: str) -> str:
        session["cart"]["items"].append(flag)
        if flag == "flagged":
            session.modified = True
        return "ok"

    client = app.test_client()
    client.post("/init")
    client.post("/append/silent")
    client.post("/append/flagged")
    # Like Flask: an unflagged nested change is not saved, a flagged one is.
    assert client.get("/get/cart").json["value"] == "{'items': ['flagged']}"


def test_clear_deletes_cookie_and_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    client.post("/set/k/v")
    credential = client.get_cookie("session")
    assert credential is not None
    old = credential.value
    response = client.post("/clear")
    assert "session=;" in response.headers["Set-Cookie"]
    assert client.get_cookie("session") is None
    replay = app.test_client()
    replay.set_cookie("session", old)
    body = replay.get("/get/k").json
    if app.config["HYBRID_SESSION_MODE"] != "server":
        # A guest's token leaves nothing in Redis when cleared (SPEC
        # 2026-12-04, growth): it opens its own data until it expires.
        assert body["new"] is False and body["value"] == "'v'"
        return
    # Replaying the credential of the cleared session opens nothing.
    assert body["new"] is True
    assert body["value"] == "None"


def test_session_transaction_works(app: Flask) -> None:
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["k"] = "from-test"
    assert client.get("/get/k").json["value"] == "'from-test'"
    with client.session_transaction() as sess:
        assert sess["k"] == "from-test"


def test_flash_messages(app: Flask) -> None:
    from flask import flash
    from flask import get_flashed_messages

    @app.post("/flash")
    def do_flash() -> str:
        flash("hello")
        return "ok"

    @app.get("/flashes")
    def flashes() -> str:
        return ",".join(str(m) for m in get_flashed_messages())

    client = app.test_client()
    client.post("/flash")
    assert client.get("/flashes").text == "hello"
    assert client.get("/flashes").text == ""


def test_no_secret_key_gives_flask_null_session(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode, SECRET_KEY=None)
    client = app.test_client()
    response = client.get("/peek")
    assert response.text == "False"  # reading a NullSession works
    assert "Set-Cookie" not in response.headers
    with pytest.raises(RuntimeError, match="session is unavailable"):
        client.post("/set/k/v")


def test_secret_key_set_after_init_works(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode, SECRET_KEY=None)
    app.config["SECRET_KEY"] = "a-secret-set-later-0123456789abcdef0123"
    client = app.test_client()
    client.post("/set/k/v")
    assert client.get("/get/k").json["value"] == "'v'"


def test_changed_secret_without_fallback_reads_empty(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode)
    client = app.test_client()
    client.post("/set/k/v")
    app.config["SECRET_KEY"] = "another-secret-0123456789abcdef0123456789"
    assert client.get("/get/k").json["new"] is True


def test_custom_serializer_tag_registers_like_flask(app: Flask) -> None:
    from flask.json.tag import JSONTag

    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    class TagMoney(JSONTag):
        key = " money"

        def check(self, value: t.Any) -> bool:
            return isinstance(value, Money)

        def to_json(self, value: t.Any) -> t.Any:
            return value.cents

        def to_python(self, value: t.Any) -> t.Any:
            return Money(value)

    app.session_interface.serializer.register(TagMoney)  # type: ignore[attr-defined]
    seen: list[int] = []

    @app.post("/money")
    def put_money() -> str:
        session["m"] = Money(250)
        return "ok"

    @app.get("/money")
    def get_money() -> str:
        seen.append(session["m"].cents)
        return "ok"

    client = app.test_client()
    client.post("/money")
    client.get("/money")
    assert seen == [250]


def test_extension_registered_without_app_reference(make_app: AppFactory, mode: str) -> None:
    import gc
    import weakref

    from flask_hybridsession import HybridSession
    from flask_hybridsession.interface import HybridSessionInterface

    app = make_app(mode)
    assert isinstance(app.extensions["hybrid_session"], HybridSession)
    assert isinstance(app.session_interface, HybridSessionInterface)
    assert not hasattr(app.extensions["hybrid_session"], "app")
    ref = weakref.ref(app)
    del app
    gc.collect()
    assert ref() is None


def test_one_extension_serves_two_apps(make_app: AppFactory) -> None:
    from flask_hybridsession import HybridSession

    hybrid = HybridSession()
    first, second = make_app("jwt"), make_app("server")
    hybrid.init_app(first)
    hybrid.init_app(second)
    for app in (first, second):
        client = app.test_client()
        client.post("/set/k/v")
        assert client.get("/get/k").json["value"] == "'v'"


def _created(sender: Flask, **extra: t.Any) -> None:
    CREATED.append(extra["sid"])


CREATED: list[str] = []


def test_session_created_is_sent_once_for_a_new_saved_session(app: Flask) -> None:
    from flask_hybridsession.signals import session_created

    CREATED.clear()
    with session_created.connected_to(_created, app):
        client = app.test_client()
        client.get("/get/k")  # untouched: no signal
        assert CREATED == []
        client.post("/set/k/v")
        client.post("/set/k/w")
        sid = client.get("/get/k").json["sid"]
    assert CREATED == [sid]
