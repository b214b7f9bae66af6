"""Helpers for the real-browser tests: find Chromium, serve the shop, drive its forms.

Nothing here imports Playwright at module level, so the test module still
imports (and skips, or fails when a browser is required) without it.

- ``HYBRID_SESSION_CHROMIUM``: the Chromium (or Chrome) executable to use;
  else ``chromium`` or ``chromium-browser`` on PATH.
- ``HYBRID_SESSION_REQUIRE_BROWSER=1``: a missing browser or Playwright
  fails the tests instead of skipping them.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import os
import re
import shutil
import struct
import threading
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import BrowserContext
    from playwright.sync_api import Locator
    from playwright.sync_api import Page
    from playwright.sync_api import Playwright

    # Public classes that playwright.sync_api does not list in __all__.
    from playwright.sync_api._generated import LocatorAssertions
    from playwright.sync_api._generated import PageAssertions

CHROMIUM_ENV = "HYBRID_SESSION_CHROMIUM"
REQUIRE_ENV = "HYBRID_SESSION_REQUIRE_BROWSER"

#: Every wait (locators, navigations, ``expect``) gives up after this long.
TIMEOUT_MS = 10_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SESSION_COOKIE = "session"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def unavailable(reason: str) -> t.NoReturn:
    """Skip the test, or fail it when ``HYBRID_SESSION_REQUIRE_BROWSER=1``."""
    if browser_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires the browser tests)", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to fail instead of skipping)")


def find_chromium() -> str | None:
    """``HYBRID_SESSION_CHROMIUM`` when set (a path or a command name), else PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        return shutil.which(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def start_playwright() -> Playwright:
    """The started sync Playwright driver (the caller stops it)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"browser tests need the playwright package, not importable: {exc}")
    return sync_playwright().start()


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from the system, never a downloaded one."""
    executable = find_chromium()
    if executable is None:
        configured = os.environ.get(CHROMIUM_ENV)
        if configured:
            where = f"{CHROMIUM_ENV}={configured!r} is not an executable"
        else:
            where = "no chromium or chromium-browser on PATH"
        unavailable(f"browser tests need Chromium: {where}; set {CHROMIUM_ENV} to its path")
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=30_000
    )


class QuietHandler(WSGIRequestHandler):
    """The dev server's handler without a log line per request (errors still log)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextlib.contextmanager
def serve(app: Flask) -> cabc.Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a daemon thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="shop-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def new_device(browser: Browser, base_url: str, name: str) -> BrowserContext:
    """A fresh browser profile (own cookies) whose user agent names the device."""
    context = browser.new_context(
        base_url=base_url,
        user_agent=f"Mozilla/5.0 (X11; Linux x86_64) HybridSessionTest/{name}",
        viewport={"width": 1024, "height": 768},
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def expect(locator: Locator) -> LocatorAssertions:
    """Playwright's retrying ``expect`` for a locator (imported late, see the module doc)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def expect_page(page: Page) -> PageAssertions:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(page)


def session_cookie(context: BrowserContext) -> str | None:
    """The value of the ``session`` cookie the browser holds, if any."""
    values = [c.get("value") for c in context.cookies() if c.get("name") == SESSION_COOKIE]
    assert len(values) <= 1, f"more than one session cookie: {values!r}"
    return values[0] if values else None


def log_in(page: Page, username: str, password: str) -> None:
    """Log in through the header's "Log in" link and the login form."""
    page.get_by_test_id("login-link").click()
    expect_page(page).to_have_url(at_path("/login"))
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("who")).to_be_visible()


def at_path(path: str) -> re.Pattern[str]:
    """A URL pattern: the loopback server, exactly ``path``, any query string."""
    return re.compile(r"^http://127\.0\.0\.1:\d+" + re.escape(path) + r"(\?[^#]*)?$")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; fails on anything else."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path} has no IHDR chunk first"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)
