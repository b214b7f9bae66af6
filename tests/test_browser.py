"""The example shop in a real (headless) Chromium, in each session mode.

The shop runs on a loopback dev server with the suite's real Redis; each
"device" is its own browser context, so its own cookie jar. Without Chromium
or Playwright these tests skip, or fail when HYBRID_SESSION_REQUIRE_BROWSER=1
(see browser_support).
"""

from __future__ import annotations

import collections.abc as cabc
import re
import typing as t

import pytest
import redis

from example_app import create_app

from .browser_support import SCREENSHOTS
from .browser_support import TIMEOUT_MS
from .browser_support import at_path
from .browser_support import expect
from .browser_support import expect_page
from .browser_support import launch_chromium
from .browser_support import log_in
from .browser_support import new_device
from .browser_support import png_size
from .browser_support import serve
from .browser_support import session_cookie
from .browser_support import start_playwright
from .conftest import RedisServer

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import BrowserContext
    from playwright.sync_api import Locator
    from playwright.sync_api import Page

#: The modes the brief covers (conftest's MODES may grow; these stay explicit).
MODES = ("jwt", "server", "auto")
pytestmark = pytest.mark.parametrize("mode", MODES, ids=[f"{m}-mode" for m in MODES])

SHOP_SECRET = "browser-test-secret-0123456789abcdef0123456789"
#: What the banner says about where a session lives, per mode.
# Where a small guest cart lives: auto keeps it in the token while it fits.
STORAGE = {
    "jwt": "a signed, encrypted token",
    "server": "Redis",
    "auto": "a signed, encrypted token",
}
THIS_DEVICE = "(this device)"
#: The hidden CSRF field of the first product's "Add to cart" form.
TOKEN_INPUT = "[data-testid=product-1] input[name=csrf_token]"

OpenDevice = t.Callable[[str], "Page"]


@pytest.fixture(scope="module")
def browser() -> cabc.Iterator[Browser]:
    """One headless Chromium for the module; skips (or fails) when there is none."""
    playwright = start_playwright()
    try:
        launched = launch_chromium(playwright)
    except BaseException:
        playwright.stop()
        raise
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture()
def shop(mode: str, redis_server: RedisServer, rdb: redis.Redis) -> cabc.Iterator[str]:
    """A fresh shop (new catalog, order numbers from HS-00001) on an empty Redis."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SHOP_SECRET,
            "HYBRID_SESSION_MODE": mode,
            "HYBRID_SESSION_REDIS_URL": redis_server.url,
        }
    )
    with serve(app) as base_url:
        yield base_url


@pytest.fixture()
def contexts(browser: Browser, shop: str) -> cabc.Iterator[dict[str, BrowserContext]]:
    """The browser contexts a test opened, by device name; closed before the server stops."""
    opened: dict[str, BrowserContext] = {}
    yield opened
    for context in opened.values():
        context.close()


@pytest.fixture()
def open_device(browser: Browser, shop: str, contexts: dict[str, BrowserContext]) -> OpenDevice:
    """``open_device("A")``: a page in a new context (own cookies, its own user agent)."""

    def factory(name: str) -> Page:
        assert name not in contexts
        contexts[name] = new_device(browser, shop, name)
        return contexts[name].new_page()

    return factory


def device_rows(page: Page) -> Locator:
    return page.get_by_test_id("devices").get_by_test_id("device")


def test_guest_cart_follows_login_to_checkout(
    mode: str, shop: str, open_device: OpenDevice, contexts: dict[str, BrowserContext]
) -> None:
    page = open_device("laptop")
    context = contexts["laptop"]
    page.goto("/")
    expect(page.get_by_test_id("mode")).to_have_text(mode)
    expect(page.get_by_test_id("banner")).to_contain_text(f"Sessions in {mode} mode")
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    expect(page.get_by_test_id("login-link")).to_be_visible()

    # Two products as a guest: espresso beans (24.90) and a sourdough loaf (5.50).
    page.get_by_test_id("add-1").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.get_by_test_id("add-3").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    expect(page.get_by_role("status")).to_contain_text("Sourdough loaf")
    expect(page.get_by_test_id("storage")).to_have_text(STORAGE[mode])
    guest_cookie = session_cookie(context)
    assert guest_cookie, "the guest cart did not give the browser a session cookie"

    def check_cart() -> None:
        page.get_by_test_id("cart-link").click()
        expect_page(page).to_have_url(at_path("/cart"))
        expect(page.get_by_test_id("cart").locator("tbody tr")).to_have_count(2)
        expect(page.get_by_test_id("line-1")).to_contain_text("Espresso beans")
        expect(page.get_by_test_id("qty-1")).to_have_value("1")
        expect(page.get_by_test_id("line-3")).to_contain_text("Sourdough loaf")
        expect(page.get_by_test_id("qty-3")).to_have_value("1")
        expect(page.get_by_test_id("total")).to_have_text("€30.40")

    check_cart()

    log_in(page, "alice", "wonderland")
    expect_page(page).to_have_url(at_path("/"))
    expect(page.get_by_test_id("who")).to_have_text("Alice")
    expect(page.get_by_test_id("login-link")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("Welcome, Alice.")
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    user_cookie = session_cookie(context)
    assert user_cookie, "no session cookie after login"
    assert user_cookie != guest_cookie, "the session cookie was not rotated at login"
    check_cart()

    # The pre-login cookie, replayed in another browser, carries neither the
    # login nor the cart: login ended the guest session (no session fixation).
    replay = open_device("replay")
    contexts["replay"].add_cookies([{"name": "session", "value": guest_cookie, "url": shop}])
    replay.goto("/")
    expect(replay.get_by_test_id("login-link")).to_be_visible()
    expect(replay.get_by_test_id("cart-count")).to_have_text("0")

    page.get_by_test_id("checkout").click()
    # A new app per test, so its first order.
    expect(page.get_by_test_id("order-number")).to_have_text(re.compile(r"^HS-\d{5}$"))
    expect(page.get_by_test_id("order-number")).to_have_text("HS-00001")
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    page.get_by_test_id("cart-link").click()
    expect(page.get_by_test_id("empty-cart")).to_be_visible()
    expect(page.get_by_test_id("cart")).to_have_count(0)
    expect(page.get_by_test_id("who")).to_have_text("Alice")

    page.get_by_role("link", name="Your devices").click()
    expect_page(page).to_have_url(at_path("/devices"))
    rows = device_rows(page)
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    mine = rows.filter(has_text=THIS_DEVICE)
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("HybridSessionTest/laptop")


def test_log_out_everywhere_from_another_device(mode: str, open_device: OpenDevice) -> None:
    first, second = open_device("A"), open_device("B")
    first.goto("/")
    log_in(first, "bob", "builder")
    first.goto("/devices")
    expect(device_rows(first)).to_have_count(1)

    second.goto("/")
    log_in(second, "bob", "builder")
    expect(second.get_by_test_id("who")).to_have_text("Bob")
    second.goto("/devices")
    rows = device_rows(second)
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=THIS_DEVICE)).to_contain_text("HybridSessionTest/B")
    expect(rows.filter(has_not_text=THIS_DEVICE)).to_contain_text("HybridSessionTest/A")

    second.get_by_test_id("logout-all").click()
    expect_page(second).to_have_url(at_path("/login"))
    expect(second.get_by_test_id("login-link")).to_be_visible()
    expect(second.get_by_test_id("who")).to_have_count(0)

    first.reload()
    expect_page(first).to_have_url(at_path("/login"))
    assert "/login" in first.url
    expect(first.get_by_test_id("login-link")).to_have_text("Log in")
    expect(first.get_by_test_id("who")).to_have_count(0)
    expect(first.get_by_test_id("login-form")).to_be_visible()
    # Not just this page: the whole shop sees a guest now.
    first.goto("/")
    expect(first.get_by_test_id("login-link")).to_be_visible()
    second.goto("/devices")
    expect_page(second).to_have_url(at_path("/login"))


def test_log_out_everywhere_leaves_a_clean_guest_session(
    mode: str, open_device: OpenDevice
) -> None:
    """After "log out everywhere" the browser is a clean guest: the message shows
    (server mode once dropped it) and the cart stays with the account."""
    page = open_device("B")
    page.goto("/")
    log_in(page, "bob", "builder")
    page.get_by_test_id("add-5").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.goto("/devices")
    page.get_by_test_id("logout-all").click()
    expect_page(page).to_have_url(at_path("/login"))
    expect(page.get_by_test_id("login-link")).to_be_visible()

    # Plain reads, not retrying expects: the page has loaded, and a known
    # failure should not wait out the timeout.
    problems = []
    flashes = page.get_by_role("status").all_inner_texts()
    if "Logged out everywhere (1 session)." not in flashes:
        problems.append(f"no 'Logged out everywhere' message, flashes: {flashes!r}")
    guest_count = page.get_by_test_id("cart-count").inner_text()
    if guest_count != "0":
        problems.append(f"the logged-out guest still has {guest_count} item(s) in the cart")
    log_in(page, "bob", "builder")
    after_login = page.get_by_test_id("cart-count").inner_text()
    if after_login != "1":
        problems.append(f"bob's saved cart of 1 item came back as {after_login}")
    assert not problems, problems


def test_revoke_one_device_from_the_devices_page(mode: str, open_device: OpenDevice) -> None:
    first, second = open_device("A"), open_device("B")
    for page in (first, second):
        page.goto("/")
        log_in(page, "alice", "wonderland")
    first.goto("/devices")
    expect(device_rows(first)).to_have_count(2)

    second.goto("/devices")
    rows = device_rows(second)
    expect(rows).to_have_count(2)
    other = rows.filter(has_not_text=THIS_DEVICE)
    expect(other).to_have_count(1)
    expect(other).to_contain_text("HybridSessionTest/A")
    expect(rows.filter(has_text=THIS_DEVICE)).to_contain_text("HybridSessionTest/B")
    # The current device has no revoke button; the other one does.
    expect(rows.filter(has_text=THIS_DEVICE).get_by_role("button")).to_have_count(0)
    other.get_by_role("button", name="Log out").click()

    expect_page(second).to_have_url(at_path("/devices"))
    expect(second.get_by_role("status")).to_have_text("That device is logged out.")
    remaining = device_rows(second)
    expect(remaining).to_have_count(1)
    expect(remaining).to_contain_text(THIS_DEVICE)
    expect(remaining).to_contain_text("HybridSessionTest/B")

    first.reload()
    expect_page(first).to_have_url(at_path("/login"))
    expect(first.get_by_test_id("login-link")).to_be_visible()
    expect(first.get_by_test_id("who")).to_have_count(0)

    second.goto("/")
    expect(second.get_by_test_id("who")).to_have_text("Alice")
    second.goto("/devices")
    expect_page(second).to_have_url(at_path("/devices"))
    expect(device_rows(second)).to_have_count(1)


@pytest.mark.parametrize("tamper", ["removed", "forged"])
def test_form_post_without_the_csrf_token_is_refused(
    mode: str, tamper: str, open_device: OpenDevice
) -> None:
    page = open_device("guest")
    page.goto("/")
    token = page.locator(TOKEN_INPUT)
    expect(token).to_have_count(1)
    assert len(token.get_attribute("value") or "") >= 32
    if tamper == "removed":
        page.evaluate("selector => document.querySelector(selector).remove()", TOKEN_INPUT)
        expect(token).to_have_count(0)
    else:
        page.evaluate(
            "selector => { document.querySelector(selector).value = 'forged-' + 'x'.repeat(40) }",
            TOKEN_INPUT,
        )
        expect(token).to_have_value("forged-" + "x" * 40)

    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/cart/add/1")
    ) as posted:
        page.get_by_test_id("add-1").click()
    assert posted.value.status == 400
    expect(page.locator("body")).to_contain_text("did not come from this site")

    page.goto("/")
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    # The same form with its token goes through.
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/cart/add/1")
    ) as posted:
        page.get_by_test_id("add-1").click()
    assert posted.value.status == 302
    expect(page.get_by_test_id("cart-count")).to_have_text("1")


def test_screenshots_of_cart_and_devices(mode: str, open_device: OpenDevice) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    cart_png = SCREENSHOTS / f"shop-{mode}-cart.png"
    devices_png = SCREENSHOTS / f"shop-{mode}-devices.png"
    for stale in (cart_png, devices_png):
        stale.unlink(missing_ok=True)

    page = open_device("screenshots")
    page.goto("/")
    log_in(page, "alice", "wonderland")
    page.get_by_test_id("add-2").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.get_by_test_id("add-7").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    page.goto("/")
    expect(page.get_by_test_id("who")).to_have_text("Alice")
    expect(page.get_by_test_id("product-12")).to_be_visible()
    page.screenshot(path=str(cart_png), full_page=True)

    page.get_by_role("link", name="Your devices").click()
    expect(device_rows(page).filter(has_text=THIS_DEVICE)).to_have_count(1)
    page.screenshot(path=str(devices_png), full_page=True)

    for png in (cart_png, devices_png):
        assert png.is_file(), f"{png} was not written"
        assert png.stat().st_size > 0, f"{png} is empty"
        width, height = png_size(png)
        assert width == 1024, f"{png} is {width} px wide, not the viewport's 1024"
        assert height >= 768, f"{png} is {height} px high, less than the viewport"
    # Twelve products do not fit one screen: full_page captured the rest.
    assert png_size(cart_png)[1] > 768
