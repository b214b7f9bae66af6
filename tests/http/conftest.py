"""Fixtures of the HTTP suites, on top of tests/conftest.py (real Redis, ``mode``)."""

from __future__ import annotations

import pytest
from flask import Flask

from ..conftest import AppFactory


@pytest.fixture()
def login_app(make_login_app: AppFactory, mode: str) -> Flask:
    """The Flask-Login reference app (tests/conftest.py) in each mode."""
    return make_login_app(mode)


@pytest.fixture()
def server_app(make_app: AppFactory) -> Flask:
    return make_app("server")
