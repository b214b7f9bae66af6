"""How large a session may grow: a jwt session within its cookie budget, a server one past it."""

from __future__ import annotations

import pytest

from flask_hybridsession import ConfigurationError
from flask_hybridsession import SessionTooLarge

from ..conftest import AppFactory
from .support import add_storage_routes
from .support import credential_of


def test_jwt_session_over_budget_raises_session_too_large(make_app: AppFactory) -> None:
    app = add_storage_routes(make_app("jwt", HYBRID_SESSION_MAX_COOKIE_BYTES=1000))

    client = app.test_client()
    assert client.post("/put/blob/100").status_code == 200
    with pytest.raises(SessionTooLarge) as info:
        client.post("/put/blob/2000")
    assert info.value.limit == 1000
    assert info.value.size > 1000
    assert "HYBRID_SESSION_MODE = 'auto'" in str(info.value)
    # Far past what a browser keeps: still our error, never a dropped cookie.
    with pytest.raises(SessionTooLarge):
        client.post("/put/blob/9000")


def test_server_mode_holds_sessions_far_over_the_cookie_budget(make_app: AppFactory) -> None:
    app = add_storage_routes(make_app("server"))
    client = app.test_client()
    response = client.post("/put/blob/100000")
    assert len(response.headers["Set-Cookie"]) < 200
    assert client.get("/get/blob").json["value"] == repr("x" * 100_000)


def test_cookie_budget_never_exceeds_what_browsers_keep(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_MAX_COOKIE_BYTES"):
        make_app("jwt", MAX_COOKIE_SIZE=8192, HYBRID_SESSION_MAX_COOKIE_BYTES=6000)


def test_large_server_session_after_switch_to_jwt_stays_in_redis(make_app: AppFactory) -> None:
    client = add_storage_routes(make_app("server")).test_client()
    client.post("/put/blob/6000")
    jwt_app = add_storage_routes(make_app("jwt"))
    moved = jwt_app.test_client()
    moved.set_cookie("session", credential_of(client))
    response = moved.get("/get/blob")
    assert response.status_code == 200
    assert response.json["value"] == repr("x" * 6000)
    assert "Set-Cookie" not in response.headers
    with pytest.raises(SessionTooLarge):
        moved.post("/put/more/1")
