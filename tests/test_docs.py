"""The docs cannot drift from the code: every setting documented, every page there.

The Python snippets of the docs live in ``tests/docs_snippets/`` and are
included into the pages with ``literalinclude``; the tests below run them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pathlib
import re
import time
import typing as t

import pytest
import redis
from flask import Flask
from flask import session

from flask_hybridsession import HybridSession
from flask_hybridsession.config import DEFAULTS
from flask_hybridsession.config import DESCRIPTIONS
from flask_hybridsession.interface import HybridSessionInterface
from flask_hybridsession.testing import decoded_session

from .conftest import SECRET
from .conftest import AppFactory
from .conftest import User

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
SNIPPETS = pathlib.Path(__file__).resolve().parent / "docs_snippets"


def test_every_setting_has_a_description_and_no_description_is_stray() -> None:
    assert DESCRIPTIONS.keys() == DEFAULTS.keys()


def test_descriptions_use_only_backticks_for_markup() -> None:
    for key, text in DESCRIPTIONS.items():
        assert text.count("`") % 2 == 0, key
        assert "``" not in text and "|" not in text and text.strip() == text, key
        assert text.endswith("."), key


def toctree_pages() -> list[str]:
    index = (DOCS / "index.md").read_text()
    pages = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.DOTALL):
        pages += [line.strip() for line in block.splitlines() if line.strip() and ":" not in line]
    return pages


def test_every_page_of_the_toctree_exists() -> None:
    pages = toctree_pages()
    assert len(pages) >= 15
    for page in pages:
        assert (DOCS / f"{page}.md").is_file(), page


def test_every_page_is_in_the_toctree() -> None:
    on_disk = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert on_disk == set(toctree_pages())


def test_python_in_the_docs_comes_from_tested_snippets() -> None:
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        assert "```python" not in text and "```{code-block} python" not in text, page.name
        for included in re.findall(r"```\{literalinclude\} (\S+)", text):
            assert (DOCS / included).resolve().is_file(), (page.name, included)


# The snippets, run.

ALL_MODES = [
    pytest.param(
        {"HYBRID_SESSION_MODE": "jwt", "HYBRID_SESSION_REVOCATION": False}, id="stateless"
    ),
    pytest.param({"HYBRID_SESSION_MODE": "jwt"}, id="jwt"),
    pytest.param({"HYBRID_SESSION_MODE": "server"}, id="server"),
    pytest.param({"HYBRID_SESSION_MODE": "auto"}, id="auto"),
]


def snippet_config(redis_url: str, mode: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"TESTING": True, "SECRET_KEY": SECRET, "HYBRID_SESSION_REDIS_URL": redis_url, **mode}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_quickstart(redis_url: str, mode: dict[str, t.Any]) -> None:
    from .docs_snippets.quickstart import create_app

    client = create_app(snippet_config(redis_url, mode)).test_client()
    first = client.post("/cart/tea").json
    second = client.post("/cart/scones").json
    assert second["cart"] == ["tea", "scones"]
    assert first["session_id"] == second["session_id"]


def test_quickstart_reads_the_environment(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    from .docs_snippets.quickstart import create_app

    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    monkeypatch.setenv("FLASK_HYBRID_SESSION_REDIS_URL", redis_url)
    app = create_app({"TESTING": True})
    assert app.config["HYBRID_SESSION_MODE"] == "auto"
    assert app.test_client().post("/cart/tea").json["cart"] == ["tea"]


def test_modes(redis_url: str) -> None:
    from .docs_snippets import modes

    for configure in (
        modes.jwt_without_redis,
        lambda app: modes.jwt_with_revocation(app, redis_url),
        lambda app: modes.server(app, redis_url),
        lambda app: modes.auto(app, redis_url),
    ):
        app = Flask(__name__)
        app.config.update(TESTING=True, SECRET_KEY=SECRET)
        configure(app)
        HybridSession(app)
        assert isinstance(app.session_interface, HybridSessionInterface)


@pytest.mark.parametrize("admin", [True, False])
def test_modes_pin_admins(make_login_app: AppFactory, admin: bool) -> None:
    from .docs_snippets.modes import log_in

    app = make_login_app("auto")
    user = User("alice")
    user.is_admin = admin  # type: ignore[attr-defined]

    @app.post("/docs-login")
    def docs_login() -> str:
        log_in(user, app.extensions["hybrid_session"])
        return "ok"

    client = app.test_client()
    client.post("/docs-login")
    with app.app_context():
        [info] = app.extensions["hybrid_session"].sessions_for("alice")
    assert info.mode == ("server" if admin else "jwt")


@pytest.mark.parametrize("mode", ALL_MODES)
def test_flask_login_guide(redis_url: str, mode: dict[str, t.Any]) -> None:
    from .docs_snippets.login import create_app

    app = create_app(snippet_config(redis_url, mode))
    client = app.test_client()
    client.post("/cart/tea")
    guest = decoded_session(app, client)
    assert client.post("/login", data={"name": "alice", "password": "nope"}).status_code == 401
    assert client.post("/login", data={"name": "alice", "password": "wonderland"}).json == {
        "user": "alice"
    }
    assert client.get("/account").json == {"user": "alice", "cart": ["tea"]}
    assert decoded_session(app, client)["_user_id"] == "alice" != guest.get("_user_id")
    client.post("/logout")
    assert client.get("/account").status_code == 401


@pytest.mark.parametrize("mode", ALL_MODES[1:])
def test_revocation_guide(
    redis_url: str, mode: dict[str, t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    from .docs_snippets.login import create_app
    from .docs_snippets.revocation import account

    app = create_app(snippet_config(redis_url, mode))
    app.register_blueprint(account)
    laptop, phone = app.test_client(), app.test_client()
    for client in (laptop, phone):
        client.post("/login", data={"name": "alice", "password": "wonderland"})
    devices = laptop.get("/account/devices").json
    assert len(devices) == 2
    [phone_sid] = [d["sid"] for d in devices if not d["this_device"]]
    assert laptop.post("/account/devices/not-mine/log-out").status_code == 404
    assert laptop.post(f"/account/devices/{phone_sid}/log-out").json == {"ended": phone_sid}
    assert phone.get("/account").status_code == 401

    assert laptop.post("/account/password").json == {"changed": True}
    assert laptop.get("/account").json["user"] == "alice"
    phone.post("/login", data={"name": "alice", "password": "wonderland"})
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        assert laptop.post("/account/log-out-everywhere").json == {"ended": 2}
    assert "ended: revoke_user" in caplog.text
    assert laptop.get("/account").status_code == 401
    assert phone.get("/account").status_code == 401

    laptop.post("/login", data={"name": "alice", "password": "wonderland"})
    assert laptop.post("/account/log-out-this-device").json == {"user": None}
    assert laptop.get("/account").status_code == 401


@pytest.mark.parametrize("mode", ALL_MODES)
def test_timeouts(redis_url: str, mode: dict[str, t.Any]) -> None:
    from .docs_snippets.quickstart import create_app
    from .docs_snippets.timeouts import configure
    from .docs_snippets.timeouts import keep_me_signed_in

    app = Flask(__name__)
    configure(app)
    app = create_app({**app.config, **snippet_config(redis_url, mode)})
    interface = app.session_interface
    assert isinstance(interface, HybridSessionInterface)
    assert interface.settings.idle_timeout == 1800
    assert interface.settings.absolute_timeout == 12 * 3600

    @app.post("/remember")
    def remember() -> str:
        keep_me_signed_in()
        return "ok"

    client = app.test_client()
    now = time.time()
    interface.clock = lambda: now
    assert "Expires" in client.post("/remember").headers["Set-Cookie"]
    client.post("/cart/tea")
    interface.clock = lambda: now + 29 * 60
    assert client.post("/cart/scones").json["cart"] == ["tea", "scones"]
    interface.clock = lambda: now + 29 * 60 + 31 * 60  # idle for 31 minutes
    assert client.post("/cart/jam").json["cart"] == ["jam"]


def test_key_rotation_of_the_secret(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    from .docs_snippets.quickstart import create_app

    old, new = SECRET, "a brand-new secret of at least 32 bytes!"
    monkeypatch.setenv("FLASK_HYBRID_SESSION_REDIS_URL", redis_url)
    monkeypatch.setenv("FLASK_SECRET_KEY", old)
    client = create_app({"TESTING": True}).test_client()
    client.post("/cart/tea")
    # Step 1 and 2 of the page: the new key, the old one as a fallback.
    monkeypatch.setenv("FLASK_SECRET_KEY", new)
    monkeypatch.setenv("FLASK_SECRET_KEY_FALLBACKS", json.dumps([old]))
    client.application = create_app({"TESTING": True})
    assert client.post("/cart/scones").json["cart"] == ["tea", "scones"]
    # Step 3: the fallback goes; the session was re-issued under the new key.
    monkeypatch.delenv("FLASK_SECRET_KEY_FALLBACKS")
    client.application = create_app({"TESTING": True})
    assert client.post("/cart/jam").json["cart"] == ["tea", "scones", "jam"]


def test_key_rotation_of_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from .docs_snippets.rotation import encryption_keys

    def build() -> Flask:
        app = Flask(__name__)
        app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_REVOCATION=False)
        encryption_keys(app)
        HybridSession(app)

        @app.post("/add/<item>")
        def add(item: str) -> list[str]:
            session["cart"] = [*session.get("cart", []), item]
            return t.cast(list[str], session["cart"])

        return app

    first, second = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("SESSION_KEY", base64.b64encode(first).decode())
    monkeypatch.setenv("OLD_SESSION_KEY", base64.b64encode(os.urandom(32)).decode())
    client = build().test_client()
    client.post("/add/tea")
    monkeypatch.setenv("SESSION_KEY", base64.b64encode(second).decode())
    monkeypatch.setenv("OLD_SESSION_KEY", base64.b64encode(first).decode())
    client.application = build()
    assert client.post("/add/scones").json == ["tea", "scones"]


@pytest.mark.parametrize("mode", ["jwt", "server"])
def test_key_rotation_of_asymmetric_keys(tmp_path: pathlib.Path, redis_url: str, mode: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .docs_snippets.quickstart import create_app
    from .docs_snippets.rotation import asymmetric_keys

    keys = tmp_path / "keys"
    keys.mkdir()
    pems = {}
    for name in ("2026-06", "2026-12"):
        key = Ed25519PrivateKey.generate()
        pems[name] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (keys / f"{name}.pub.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    config = {**snippet_config(redis_url, {"HYBRID_SESSION_MODE": mode})}
    before = Flask(__name__, instance_path=str(tmp_path))
    before.config.update(
        HYBRID_SESSION_JWT_ALGORITHM="EdDSA", HYBRID_SESSION_JWT_PRIVATE_KEY=pems["2026-06"]
    )
    client = create_app({**before.config, **config}).test_client()
    client.post("/cart/tea")

    (keys / "2026-12.pem").write_bytes(pems["2026-12"])
    after = Flask(__name__, instance_path=str(tmp_path))
    asymmetric_keys(after)
    client.application = create_app(
        {k: v for k, v in after.config.items() if k.startswith("HYBRID")} | config
    )
    assert client.post("/cart/scones").json["cart"] == ["tea", "scones"]


def test_deployment_configurations() -> None:
    from flask_hybridsession.config import load_settings

    from .docs_snippets import deployment

    for configure in (
        deployment.sentinel,
        deployment.cluster,
        deployment.tls,
        deployment.tls_client,
    ):
        app = Flask(__name__)
        app.config.update(TESTING=True, SECRET_KEY=SECRET)
        configure(app)
        settings = load_settings(app)  # checks the URL without connecting
        assert settings.needs_redis
    app = Flask(__name__)
    deployment.sentinel(app)
    HybridSession(app)  # a Sentinel client connects on first use


def test_migrating_from_flask_session(rdb: redis.Redis, redis_url: str) -> None:
    from .docs_snippets.migrating import after_flask_session
    from .docs_snippets.migrating import before_flask_session

    def build(configure: t.Callable[[Flask, str], None]) -> Flask:
        app = Flask(__name__)
        app.config.update(TESTING=True, SECRET_KEY=SECRET)
        configure(app, redis_url)

        @app.post("/add/<item>")
        def add(item: str) -> list[str]:
            session["cart"] = [*session.get("cart", []), item]
            return t.cast(list[str], session["cart"])

        return app

    client = build(before_flask_session).test_client()
    client.post("/add/tea")
    after = build(after_flask_session)
    result = after.test_cli_runner().invoke(
        args=["hybrid-session", "migrate-from-flask-session", "--dry-run"]
    )
    assert "would migrate 1" in result.stdout
    result = after.test_cli_runner().invoke(args=["hybrid-session", "migrate-from-flask-session"])
    assert result.stdout.strip().endswith("Migrated 1, skipped 0, refused 0.")
    client.application = after
    assert client.post("/add/scones").json == ["tea", "scones"]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_migrating_from_flask_jwt_extended(redis_url: str, mode: dict[str, t.Any]) -> None:
    from .docs_snippets.migrating import register_api
    from .docs_snippets.quickstart import create_app

    app = create_app(snippet_config(redis_url, mode))
    register_api(app)
    client = app.test_client(use_cookies=False)
    response = client.post("/api/login", json={"name": "bob"}, headers={"X-Session-Token": "new"})
    token = response.headers["X-Session-Token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).json == {"user": "bob", "roles": ["reader"]}
    assert client.post("/api/logout", headers=bearer).headers["X-Session-Token"] == ""
    if mode.get("HYBRID_SESSION_REVOCATION", True):
        # Without revocation a copied token stays valid until its exp.
        assert client.get("/api/me", headers=bearer).status_code == 401


def test_the_demo_port_and_the_development_set_up_are_documented() -> None:
    shop = (DOCS / "example-shop.md").read_text()
    assert "PORT=8000 make demo" in shop and "http://127.0.0.1:5000" in shop
    assert "PORT=8000 make demo" in (DOCS / "quickstart.md").read_text()
    development = (DOCS / "development.md").read_text()
    for needed in ("uv.lock", "make lock", "make matrix", "3.11, 3.12 and 3.13", "6.2 and 7.x"):
        assert needed in development, needed


def test_the_configuration_reference_lists_every_key() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hybrid_docs", DOCS / "_ext" / "hybrid_docs.py")
    assert spec is not None and spec.loader is not None
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    # A definition list, not a table: readable at any width (docs/_static/hybrid.css).
    [listing] = extension.ConfigTable.run(None)  # run() reads no directive state
    assert type(listing).__name__ == "definition_list"
    assert "hybrid-config" in listing["classes"]
    terms = [item[0] for item in listing.children]
    # Each key keeps its anchor: configuration.html#hybrid-session-mode.
    assert [term["ids"][0] for term in terms] == [key.lower().replace("_", "-") for key in DEFAULTS]
