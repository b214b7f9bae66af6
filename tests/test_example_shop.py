"""The example shop, route by route, in every mode (test client, real Redis)."""

from __future__ import annotations

import os
import re
import typing as t

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app

from .conftest import RedisServer

SHOP_SECRET = "shop-secret-0123456789abcdef0123456789abcd"


@pytest.fixture()
def shop(redis_server: RedisServer, rdb: t.Any, mode: str) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SHOP_SECRET,
            "HYBRID_SESSION_MODE": mode,
            "HYBRID_SESSION_REDIS_URL": redis_server.url,
        }
    )


def csrf(client: FlaskClient, path: str = "/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match is not None
    return match.group(1)


def login(client: FlaskClient, user: str = "alice", password: str = "wonderland") -> None:
    response = client.post(
        "/login",
        data={"csrf_token": csrf(client, "/login"), "username": user, "password": password},
    )
    assert response.status_code == 302


def add(client: FlaskClient, product: int, quantity: int = 1) -> None:
    response = client.post(
        f"/cart/add/{product}", data={"csrf_token": csrf(client), "quantity": str(quantity)}
    )
    assert response.status_code == 302


def test_catalog_and_product_pages(shop: Flask, mode: str) -> None:
    client = shop.test_client()
    page = client.get("/").text
    assert page.count('data-testid="product-') == 12
    assert f'data-testid="mode">{mode}<' in page
    assert "Sourdough loaf" in client.get("/product/3").text
    assert client.get("/product/99").status_code == 404


#: Emoji and pictographs: empty boxes on a machine without an emoji font.
EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]")
SVG = re.compile(r'<svg class="icon" data-icon="([a-z]+)" viewBox="0 0 32 32"[^>]*>(.*?)</svg>')


def test_product_icons_are_inline_svg_not_emoji(shop: Flask) -> None:
    client = shop.test_client()
    add(client, 3)
    pages = {path: client.get(path).text for path in ("/", "/product/3", "/cart", "/login")}
    for path, page in pages.items():
        assert not EMOJI.search(page), path
        # No image files, no external icon sets: the drawing is in the page.
        assert "<img" not in page and "xlink:href" not in page and "<use" not in page
        brand = page.split('class="brand"')[1].split("</a>")[0]
        assert 'data-icon="cart"' in brand and "Corner Shop" in brand
    catalog = [m.group(1) for m in SVG.finditer(pages["/"]) if m.group(1) != "cart"]
    assert len(catalog) == 12 and len(set(catalog)) == 12  # one drawing per product
    for match in SVG.finditer(pages["/"]):
        assert "<path" in match.group(2) or "<rect" in match.group(2)
    assert 'role="img" aria-label="Sourdough loaf"' in pages["/product/3"]
    assert 'data-icon="bread"' in pages["/product/3"]
    line = pages["/cart"].split('data-testid="line-3"')[1].split("</tr>")[0]
    assert 'data-icon="bread"' in line and 'aria-hidden="true"' in line


def test_cart_add_update_remove_and_totals(shop: Flask) -> None:
    client = shop.test_client()
    add(client, 1, 2)  # 2 x 24.90
    add(client, 7)  # 3.90
    page = client.get("/cart").text
    assert 'data-testid="total">€53.70<' in page
    token = csrf(client, "/cart")
    client.post("/cart/update/1", data={"csrf_token": token, "quantity": "1"})
    assert 'data-testid="total">€28.80<' in client.get("/cart").text
    client.post("/cart/remove/1", data={"csrf_token": token})
    assert 'data-testid="total">€3.90<' in client.get("/cart").text
    assert 'data-testid="cart-count">1<' in client.get("/").text


@pytest.mark.parametrize("quantity", ["-1", "abc", "100"])
def test_bad_quantity_is_400(shop: Flask, quantity: str) -> None:
    client = shop.test_client()
    response = client.post("/cart/add/1", data={"csrf_token": csrf(client), "quantity": quantity})
    assert response.status_code == 400


def test_form_post_without_csrf_token_is_400(shop: Flask) -> None:
    client = shop.test_client()
    csrf(client)
    assert client.post("/cart/add/1", data={"quantity": "1"}).status_code == 400
    assert client.post("/cart/add/1", data={"quantity": "1", "csrf_token": "x"}).status_code == 400
    assert (
        client.post("/cart/add/1", data={"quantity": "1", "csrf_token": csrf(client)}).status_code
        == 302
    )


def test_checkout_empties_cart_and_shows_order_number(shop: Flask) -> None:
    client = shop.test_client()
    add(client, 2, 3)
    page = client.post("/checkout", data={"csrf_token": csrf(client, "/cart")}).text
    assert re.search(r'data-testid="order-number">HS-\d{5}<', page)
    assert 'data-testid="empty-cart"' in client.get("/cart").text
    assert "22 in stock" in client.get("/product/2").text


def test_guest_cart_survives_login_and_session_rotates(shop: Flask) -> None:
    client = shop.test_client()
    add(client, 5)
    before = client.get_cookie("session")
    assert before is not None
    login(client)
    after = client.get_cookie("session")
    assert after is not None and after.value != before.value
    assert "Honey" in client.get("/cart").text
    assert 'data-testid="who">Alice<' in client.get("/").text
    # The saved cart follows alice to another device, merged with its guest cart.
    other = shop.test_client()
    add(other, 8)
    login(other)
    page = other.get("/cart").text
    assert "Honey" in page and "Apples" in page


def test_wrong_password_is_401_and_stays_anonymous(shop: Flask) -> None:
    client = shop.test_client()
    response = client.post(
        "/login", data={"csrf_token": csrf(client, "/login"), "username": "alice", "password": "x"}
    )
    assert response.status_code == 401
    assert "wrong password" in response.text
    assert client.get("/devices").status_code == 302


def test_devices_revoke_one_and_log_out_everywhere(shop: Flask) -> None:
    first, second = shop.test_client(), shop.test_client()
    login(first)
    login(second)
    page = first.get("/devices").text
    assert page.count('data-testid="device"') == 2
    assert page.count("(this device)") == 1
    other_sid = re.findall(r"/devices/([A-Za-z0-9_-]{22})/revoke", page)
    assert len(other_sid) == 1
    first.post(f"/devices/{other_sid[0]}/revoke", data={"csrf_token": csrf(first, "/devices")})
    assert second.get("/devices").status_code == 302  # logged out
    assert first.get("/devices").status_code == 200
    assert (
        first.post(
            "/devices/AAAAAAAAAAAAAAAAAAAAAA/revoke", data={"csrf_token": csrf(first)}
        ).status_code
        == 404
    )
    third = shop.test_client()
    login(third)
    response = first.post("/devices/logout-all", data={"csrf_token": csrf(first, "/devices")})
    assert response.status_code == 302
    for client in (first, third):
        assert client.get("/devices").status_code == 302


def test_logout_ends_the_session(shop: Flask) -> None:
    client = shop.test_client()
    login(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.post("/logout", data={"csrf_token": csrf(client)})
    replay = shop.test_client()
    replay.set_cookie("session", cookie.value)
    assert replay.get("/devices").status_code == 302


def _api_login(shop: Flask, user: str = "bob", password: str = "builder") -> str:
    response = shop.test_client().post(
        "/api/login",
        json={"username": user, "password": password},
        headers={"X-Session-Token": "new"},
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    return response.headers["X-Session-Token"]


def test_api_cart_with_bearer(shop: Flask) -> None:
    token = _api_login(shop)
    client = shop.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/cart", headers=auth).json == {"items": [], "total_cents": 0}
    body = client.post("/api/cart", json={"product_id": 4, "quantity": 2}, headers=auth).json
    assert body["total_cents"] == 1440
    assert client.post("/api/cart", json={"product_id": 99}, headers=auth).status_code == 404
    bad = client.post("/api/cart", json={"product_id": "4"}, headers=auth)
    assert bad.status_code == 400 and "error" in (bad.json or {})
    assert client.delete("/api/cart/4", headers=auth).json["items"] == []
    client.post("/api/cart", json={"product_id": 1}, headers=auth)
    assert client.delete("/api/cart", headers=auth).json["total_cents"] == 0


def test_api_errors_are_json(shop: Flask) -> None:
    client = shop.test_client()
    response = client.get("/api/cart")
    assert response.status_code == 401
    assert response.json is not None and "error" in response.json
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    missing = client.post("/api/login", json={"username": "bob", "password": "builder"})
    assert missing.status_code == 400 and "X-Session-Token" in missing.json["error"]
    wrong = client.post(
        "/api/login", json={"username": "bob", "password": "x"}, headers={"X-Session-Token": "new"}
    )
    assert wrong.status_code == 401
    assert client.get("/api/nowhere").json == {"error": "Not Found"}


def test_api_logout_and_revoked_token_is_401(shop: Flask) -> None:
    token = _api_login(shop)
    client = shop.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/logout", headers=auth).status_code == 200
    assert client.get("/api/cart", headers=auth).status_code == 401
    other = _api_login(shop)
    with shop.app_context():
        shop.extensions["hybrid_session"].revoke_user("bob")
    assert client.get("/api/cart", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_switching_mode_keeps_login_and_cart(redis_server: RedisServer, rdb: t.Any) -> None:
    def make(mode: str) -> Flask:
        return create_app(
            {
                "TESTING": True,
                "SECRET_KEY": SHOP_SECRET,
                "HYBRID_SESSION_MODE": mode,
                "HYBRID_SESSION_REDIS_URL": redis_server.url,
            }
        )

    client = make("jwt").test_client()
    add(client, 9, 2)
    login(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    for mode in ("server", "jwt", "server"):
        moved = make(mode).test_client()
        moved.set_cookie("session", cookie.value)
        page = moved.get("/cart").text
        assert "Avocados" in page and 'data-testid="who">Alice<' in page
        cookie = moved.get_cookie("session") or cookie


def test_api_refuses_the_page_cookie(shop: Flask) -> None:
    client = shop.test_client()
    login(client)
    response = client.get("/api/cart")
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]


def test_api_basic_auth_does_not_unlock_the_cookie(shop: Flask) -> None:
    client = shop.test_client()
    login(client)
    response = client.get("/api/cart", headers={"Authorization": "Basic eDp5"})
    assert response.status_code == 401


def test_example_keeps_its_secret_in_the_instance_folder(
    redis_server: RedisServer, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    # Its own prefix: another test's app keeps its naming key under the default one.
    config = {"HYBRID_SESSION_REDIS_URL": redis_server.url, "HYBRID_SESSION_KEY_PREFIX": "shop:"}
    first = create_app(config)
    second = create_app(config)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert os.stat(tmp_path / "instance" / "secret_key").st_mode & 0o077 == 0
