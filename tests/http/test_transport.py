"""Cookie and Authorization: Bearer transports."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from flask_hybridsession import ConfigurationError

from ..conftest import AppFactory
from .support import credential_of


def _login_by_header(app: Flask) -> str:
    response = app.test_client().post("/set/k/v", headers={"X-Session-Token": "new"})
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response.headers["Cache-Control"]
    return response.headers["X-Session-Token"]


def test_header_client_gets_token_header_never_cookie(app: Flask) -> None:
    token = _login_by_header(app)
    assert token
    response = app.test_client().get("/get/k", headers={"Authorization": f"Bearer {token}"})
    assert response.json is not None
    assert response.json["value"] == "'v'"
    assert "Set-Cookie" not in response.headers
    assert "Authorization" in response.headers["Vary"]


def test_bearer_is_the_cookie_value(app: Flask) -> None:
    client = app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    other = app.test_client()
    body = other.get("/get/k", headers={"Authorization": f"bearer {token}"}).json
    assert body is not None and body["value"] == "'v'"


def test_header_wins_over_cookie_and_never_merges(app: Flask) -> None:
    a = app.test_client()
    a.post("/set/who/alice")
    b_token = _login_by_header(app)
    response = a.get("/get/who", headers={"Authorization": f"Bearer {b_token}"})
    assert response.json is not None
    assert response.json["value"] == "None"  # B's session has k, not who
    assert a.get("/get/k", headers={"Authorization": f"Bearer {b_token}"}).json == {
        "value": "'v'",
        "sid": response.json["sid"],
        "new": False,
    }


def test_new_credential_for_bearer_request_comes_in_header(app: Flask) -> None:
    token = _login_by_header(app)
    response = app.test_client().post("/set/k2/v2", headers={"Authorization": f"Bearer {token}"})
    assert "Set-Cookie" not in response.headers
    renewed = response.headers.get("X-Session-Token", token)
    body = app.test_client().get("/get/k2", headers={"Authorization": f"Bearer {renewed}"}).json
    assert body is not None and body["value"] == "'v2'"


def test_clearing_by_header_sends_empty_token(app: Flask) -> None:
    token = _login_by_header(app)
    response = app.test_client().post("/clear", headers={"Authorization": f"Bearer {token}"})
    assert response.headers["X-Session-Token"] == ""
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer ,tok", "Bearer " + " " * 65536, "bEaReR \x00"],
    ids=["bare", "empty", "two-words", "comma", "64k-spaces", "nul"],
)
def test_malformed_bearer_is_a_fresh_session(app: Flask, header: str) -> None:
    response = app.test_client().get("/get/k", headers={"Authorization": header})
    assert response.status_code == 200
    assert response.json is not None and response.json["new"] is True


def test_two_authorization_headers_are_refused(app: Flask) -> None:
    token = _login_by_header(app)
    response = app.test_client().get(
        "/get/k",
        headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
    )
    assert response.json is not None and response.json["new"] is True


def test_other_schemes_are_ignored_and_cookie_used(app: Flask) -> None:
    client = app.test_client()
    client.post("/set/k/v")
    body = client.get("/get/k", headers={"Authorization": "Basic dXNlcjpwYXNz"}).json
    assert body is not None and body["value"] == "'v'"


def test_cookie_only_ignores_bearer(make_app: AppFactory, mode: str) -> None:
    header_app = make_app(mode)
    token = _login_by_header(header_app)
    app = make_app(mode, HYBRID_SESSION_TRANSPORTS=("cookie",))
    body = app.test_client().get("/get/k", headers={"Authorization": f"Bearer {token}"}).json
    assert body is not None and body["new"] is True


def test_header_only_ignores_cookie(make_app: AppFactory, mode: str) -> None:
    cookie_app = make_app(mode)
    client = cookie_app.test_client()
    client.post("/set/k/v")
    token = credential_of(client)
    app = make_app(mode, HYBRID_SESSION_TRANSPORTS=("header",))
    other = app.test_client()
    other.set_cookie("session", token)
    body = other.get("/get/k").json
    assert body is not None and body["new"] is True
    response = other.post("/set/k/v")
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Session-Token"]


@pytest.mark.parametrize("where", ["query", "form"])
def test_token_never_read_from_query_or_form(app: Flask, where: str) -> None:
    token = _login_by_header(app)
    client = app.test_client()
    if where == "query":
        body = client.get(f"/get/k?session={token}&access_token={token}").json
    else:
        body = client.get("/get/k", data={"session": token, "access_token": token}).json
    assert body is not None and body["new"] is True


def test_host_cookie_under_an_application_root_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="__Host-"):
        make_app(
            "jwt",
            SESSION_COOKIE_NAME="__Host-s",
            SESSION_COOKIE_SECURE=True,
            APPLICATION_ROOT="/shop",
        )


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"SESSION_COOKIE_DOMAIN": "shop.example", "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_PATH": "/shop"},
        {"SESSION_COOKIE_SAMESITE": None, "SESSION_COOKIE_HTTPONLY": False},
        {"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_NAME": "__Host-s", "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_NAME": "séssion"},
    ],
)
def test_the_set_cookie_header_is_the_one_werkzeug_makes(
    make_app: AppFactory, config: dict[str, object]
) -> None:
    """The extension writes a session cookie's header from its attributes'
    part, measured once: byte for byte what ``response.set_cookie`` makes."""
    from werkzeug.http import dump_cookie

    app = make_app("jwt", **config)
    interface = app.session_interface
    attrs: dict[str, t.Any] = {
        "domain": interface.get_cookie_domain(app),
        "path": interface.get_cookie_path(app),
        "secure": interface.get_cookie_secure(app),
        "httponly": interface.get_cookie_httponly(app),
        "samesite": interface.get_cookie_samesite(app),
        "partitioned": interface.get_cookie_partitioned(app),
    }
    client = app.test_client()
    for key in ("a", "b"):  # the second from the kept part
        response = client.post(f"/set/{key}/v")
        [header] = response.headers.getlist("Set-Cookie")
        value = header.split(";", 1)[0].split("=", 1)[1]
        assert value.count(".") == 2
        assert header == dump_cookie(interface.get_cookie_name(app), value, **attrs)


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.text(alphabet=' \t;="\\sesionHtd.b-_xé,%', max_size=12), min_size=0, max_size=6
    ).map(";".join),
    st.sampled_from(["session", "__Host-s", "s.id"]),
)
def test_the_session_cookie_is_read_as_werkzeug_reads_it(header: str, name: str) -> None:
    """The interface finds its cookie in the ``Cookie`` header without parsing
    every cookie: whatever the header, the answer is ``request.cookies.get``'s."""
    from flask import Request
    from werkzeug.test import EnvironBuilder

    from flask_hybridsession.interface import _cookie

    environ = EnvironBuilder(headers=[("Cookie", header)]).get_environ()
    expected = Request(dict(environ)).cookies.get(name)
    assert _cookie(Request(dict(environ)), name) == expected
