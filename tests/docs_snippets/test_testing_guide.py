"""docs/testing.md: a test module as an app's own suite would write it.

The root conftest.py of the suite loads the plugin:
``pytest_plugins = ["flask_hybridsession.testing"]``.
"""

# [fixtures]
import pytest

from flask_hybridsession.testing import decoded_session
from flask_hybridsession.testing import login

from .login import create_app  # your app factory


@pytest.fixture(params=["jwt", "server", "auto"])
def app(request, hybrid_redis):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "HYBRID_SESSION_MODE": request.param,
            "HYBRID_SESSION_REDIS_URL": hybrid_redis.url,
        }
    )


@pytest.fixture()
def client(app):
    return app.test_client()


# [end fixtures]


# [session-transaction]
def test_a_prepared_cart_shows_on_the_account_page(client):
    login(client, "alice")
    with client.session_transaction() as session:
        session["cart"] = ["tea", "scones"]
    assert client.get("/account").json["cart"] == ["tea", "scones"]


# [end session-transaction]


# [login-helper]
def test_account_page_needs_a_login(client):
    assert client.get("/account").status_code == 401
    login(client, "alice")
    assert client.get("/account").json["user"] == "alice"


# [end login-helper]


# [decoded-session]
def test_the_cart_is_in_the_session(app, client):
    response = client.post("/cart/tea")
    assert decoded_session(app, response) == {"cart": ["tea"]}  # what this response issued
    client.post("/cart/scones")
    assert decoded_session(app, client)["cart"] == ["tea", "scones"]  # what the client holds


# [end decoded-session]


# [redis-keys]
def test_logout_ends_the_session_in_redis(app, client, hybrid_redis):
    from flask_hybridsession.testing import redis_keys

    sid = login(client, "alice")
    client.post("/logout")
    redis = hybrid_redis.client()
    assert redis.exists(redis_keys(app, sid).revoked)  # the old sid is marked ended
    assert not redis.exists(redis_keys(app, sid).session)
    redis.close()


# [end redis-keys]


# [without-redis]
def test_without_any_redis():
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "HYBRID_SESSION_MODE": "jwt",
            "HYBRID_SESSION_REVOCATION": False,  # stateless: no Redis at all
        }
    )
    client = app.test_client()
    login(client, "alice")
    assert client.get("/account").json["user"] == "alice"


# [end without-redis]
