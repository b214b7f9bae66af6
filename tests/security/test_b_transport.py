"""B. Transport and cookie attributes: HS-05 to HS-12."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from flask_hybridsession import ConfigurationError
from flask_hybridsession import SessionTooLarge

from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import assert_fresh
from ..forging import body
from ..forging import present
from .support import MODES
from .support import assert_refused
from .support import cookie_attrs
from .support import issued
from .support import login
from .support import set_cookie_headers


def _login_cookie(app: Flask) -> str:
    response = app.test_client(use_cookies=False).post("/login/alice")
    [header] = set_cookie_headers(response)
    return header


@pytest.mark.parametrize("mode", MODES)
def test_hs05_cookie_is_httponly_by_default(make_sec_app: AppFactory, mode: str) -> None:
    assert "httponly" in cookie_attrs(_login_cookie(make_sec_app(mode)))


@pytest.mark.parametrize("mode", MODES)
def test_hs05_httponly_off_is_honoured_with_one_warning(
    make_sec_app: AppFactory, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_sec_app(mode, SESSION_COOKIE_HTTPONLY=False)
    warnings = [r for r in caplog.records if "HTTPONLY" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "httponly" not in cookie_attrs(_login_cookie(app))


@pytest.mark.parametrize("mode", MODES)
def test_hs06_secure_when_configured(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode, SESSION_COOKIE_SECURE=True)
    assert "secure" in cookie_attrs(_login_cookie(app))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "config",
    [
        {"SESSION_COOKIE_NAME": "__Host-sid"},
        {"SESSION_COOKIE_NAME": "__Secure-sid"},
        {"SESSION_COOKIE_SAMESITE": "None"},
    ],
    ids=["host-prefix", "secure-prefix", "samesite-none"],
)
def test_hs06_names_and_samesite_that_need_secure_are_refused_without_it(
    make_sec_app: AppFactory, mode: str, config: dict[str, str]
) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_"):
        make_sec_app(mode, **config)
    make_sec_app(mode, SESSION_COOKIE_SECURE=True, **config)  # fine with Secure


@pytest.mark.parametrize("mode", MODES)
def test_hs07_samesite_lax_by_default(make_sec_app: AppFactory, mode: str) -> None:
    assert cookie_attrs(_login_cookie(make_sec_app(mode)))["samesite"] == "Lax"


@pytest.mark.parametrize("mode", MODES)
def test_hs08_host_prefix_and_no_domain(make_sec_app: AppFactory, mode: str) -> None:
    default = cookie_attrs(_login_cookie(make_sec_app(mode)))
    assert "domain" not in default
    assert default["path"] == "/"
    app = make_sec_app(mode, SESSION_COOKIE_NAME="__Host-sid", SESSION_COOKIE_SECURE=True)
    response = app.test_client(use_cookies=False).post("/login/alice")
    [header] = set_cookie_headers(response, "__Host-sid")
    attrs = cookie_attrs(header)
    assert "secure" in attrs
    assert attrs["path"] == "/"
    assert "domain" not in attrs
    with pytest.raises(ConfigurationError, match="__Host-"):
        make_sec_app(
            mode,
            SESSION_COOKIE_NAME="__Host-sid",
            SESSION_COOKIE_SECURE=True,
            SESSION_COOKIE_DOMAIN="example.test",
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs09_no_credential_over_4096_bytes(make_sec_app: AppFactory, mode: str, via: Via) -> None:
    """jwt mode refuses with SessionTooLarge; auto and server keep big sessions in Redis."""
    app = make_sec_app(mode)
    headers = {"X-Session-Token": "new"} if via == "bearer" else {}
    client = app.test_client(use_cookies=False)
    if mode == "jwt":
        with pytest.raises(SessionTooLarge) as caught:
            client.post("/big", headers=headers)
        assert caught.value.size > caught.value.limit
        assert caught.value.limit <= 4096
        return
    response = client.post("/big", headers=headers)
    credential = issued(response, via)
    assert credential.startswith("v1.")
    for header in response.headers.getlist("Set-Cookie"):
        assert len(header) <= 4096
    assert len(credential) <= 4096


def test_hs09_jwt_mode_never_sends_the_oversized_cookie(make_sec_app: AppFactory) -> None:
    """Without PROPAGATE_EXCEPTIONS the app answers 500, with no cookie at all."""
    app = make_sec_app("jwt", PROPAGATE_EXCEPTIONS=False, TESTING=False, DEBUG=False)
    response = app.test_client(use_cookies=False).post("/big")
    assert response.status_code == 500
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "where",
    [
        "query-session",
        "query-jwt",
        "query-access_token",
        "form-session",
        "form-access_token",
        "json-session",
        "json-token",
        "path",
    ],
)
def test_hs10_tokens_only_from_the_configured_transport(
    make_sec_app: AppFactory, mode: str, where: str
) -> None:
    app = make_sec_app(mode)
    held, _ = login(app, "alice")
    client = app.test_client(use_cookies=False)
    kind, _, name = where.partition("-")
    if kind == "query":
        response = client.get("/whoami", query_string={name: held.credential})
    elif kind == "form":
        response = client.post("/whoami", data={name: held.credential})
    elif kind == "json":
        response = client.post("/whoami", json={name: held.credential})
    else:
        response = client.get(f"/get/{held.credential}")
        assert_fresh(response, held.sid)
        return
    assert response.text == "anonymous"
    # Positive control: the same route knows the user from the cookie.
    assert held.get("/whoami").text == "alice"


@pytest.mark.parametrize("mode", MODES)
def test_hs10_cookie_only_ignores_bearer_and_header_only_ignores_cookie(
    make_sec_app: AppFactory, mode: str
) -> None:
    cookie_app = make_sec_app(mode, HYBRID_SESSION_TRANSPORTS=("cookie",))
    header_app = make_sec_app(mode, HYBRID_SESSION_TRANSPORTS=("header",))
    by_cookie, _ = login(cookie_app, "alice", "cookie")
    by_header, _ = login(header_app, "alice", "bearer")
    assert present(cookie_app, by_cookie.credential, "bearer", path="/me").status_code == 401
    assert present(header_app, by_header.credential, "cookie", path="/me").status_code == 401
    # A login through the wrong transport hands out nothing there either.
    response = header_app.test_client(use_cookies=False).post("/login/alice")
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("mode", MODES)
def test_hs10_tokens_never_put_in_urls(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode)
    held, response = login(app, "alice")
    assert held.credential not in response.headers.get("Location", "")
    logout = held.post("/logout")
    assert held.credential not in logout.headers.get("Location", "")


MALFORMED_AUTHORIZATION = [
    "Bearer",
    "Bearer ",
    "Bearer a b",
    "Bearer ,tok",
    "Bearer " + " " * 65536,
    "Bearer\ttab",
    "bEaReR",
    "Bearer \x00",
    "Bearer é",
    "Bearer " + "A" * 65536,
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", MALFORMED_AUTHORIZATION, ids=lambda v: repr(v[:12]) + str(len(v)))
def test_hs11_malformed_bearer_is_401_or_anonymous(
    make_sec_app: AppFactory, mode: str, value: str
) -> None:
    app = make_sec_app(mode)
    client = app.test_client(use_cookies=False)
    environ = {"HTTP_AUTHORIZATION": value}
    assert_refused(client.get("/get/k", environ_overrides=environ))
    assert client.get("/me", environ_overrides=environ).status_code == 401


@pytest.mark.parametrize("mode", MODES)
def test_hs11_two_authorization_headers_are_refused(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode)
    held, _ = login(app, "alice", "bearer")
    client = app.test_client(use_cookies=False)
    both = [("Authorization", f"Bearer {held.credential}")] * 2
    assert client.get("/me", headers=both).status_code == 401
    mixed = [("Authorization", f"Bearer {held.credential}"), ("Authorization", "Basic eDp5")]
    assert client.get("/me", headers=mixed).status_code == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scheme", ["Basic eDp5", "Digest username=x", "Token abc"])
def test_hs11_other_schemes_are_ignored(make_sec_app: AppFactory, mode: str, scheme: str) -> None:
    app = make_sec_app(mode)
    held, _ = login(app, "alice", "cookie")
    response = present(
        app, held.credential, "cookie", path="/me", headers={"Authorization": scheme}
    )
    assert response.text == "alice"


@pytest.mark.parametrize("mode", MODES)
def test_hs12_bearer_wins_over_cookie_and_logout_ends_the_one_used(
    make_sec_app: AppFactory, mode: str
) -> None:
    """Documented precedence (SPEC): the header wins; the two are never merged."""
    app = make_sec_app(mode)
    a, _ = login(app, "alice", "bearer")
    b, _ = login(app, "bob", "cookie")
    b = b.then(b.post("/set/only_b/1"))
    client = app.test_client(use_cookies=False)

    def both(path: str, method: str = "GET") -> str:
        response = client.open(
            path,
            method=method,
            headers={
                "Authorization": f"Bearer {a.credential}",
                "Cookie": f"session={b.credential}",
            },
        )
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    for _ in range(3):
        assert both("/me") == "alice"
        assert "None" in both("/get/only_b")  # nothing of B's session is merged in
    both("/logout", "POST")
    assert a.me().status_code == 401
    assert b.me().text == "bob"
    assert body(b.get("/get/only_b"))["value"] == "'1'"
