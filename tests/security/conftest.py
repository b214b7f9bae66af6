"""Fixtures of the security suite, on top of tests/conftest.py (real Redis, MODES).

The parent conftest's fixtures (``redis_server``, ``rdb``, ``redis_url``,
``mode``...) apply here unchanged; this one adds the reference app with the
extra routes some items need and a real JWT to forge from, and prints how
many fuzz cases each mode ran.
"""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask

from ..conftest import AppFactory
from ..forging import Minted
from .support import FUZZ_CASES
from .support import mint
from .support import security_app


@pytest.fixture()
def make_sec_app(redis_url: str) -> AppFactory:
    """Builds the reference app on the test Redis: ``make_sec_app(mode, **config)``."""

    def factory(mode: str, **config: t.Any) -> Flask:
        config.setdefault("HYBRID_SESSION_REDIS_URL", redis_url)
        return security_app(mode, **config)

    return factory


@pytest.fixture()
def sec_app(make_sec_app: AppFactory, mode: str) -> Flask:
    return make_sec_app(mode)


@pytest.fixture()
def jwt_issuer(make_sec_app: AppFactory) -> Flask:
    """A jwt-mode app whose tokens are presented to apps of every mode."""
    return make_sec_app("jwt")


@pytest.fixture()
def minted(jwt_issuer: Flask) -> Minted:
    """A real session JWT of :func:`jwt_issuer` holding k = "v", taken apart."""
    return mint(jwt_issuer)


def pytest_terminal_summary(terminalreporter: t.Any, exitstatus: int, config: t.Any) -> None:
    if not FUZZ_CASES:
        return
    terminalreporter.section("fuzz cases per mode")
    for mode in sorted(FUZZ_CASES):
        terminalreporter.write_line(f"{mode}: {FUZZ_CASES[mode]} cases")
    terminalreporter.write_line(f"total: {sum(FUZZ_CASES.values())} cases")
