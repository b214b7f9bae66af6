"""HYBRID_SESSION_REDIS_URL: a malformed URL is a ConfigurationError at init_app (issue 15).

The message names the key and the accepted forms, and never holds the URL's
password, not even in the exception chain.
"""

from __future__ import annotations

import traceback
import typing as t

import pytest
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from flask_hybridsession import ConfigurationError
from flask_hybridsession import HybridSession
from flask_hybridsession.config import load_settings
from flask_hybridsession.stores.redis_connect import connect

from .conftest import SECRET

KEY = "HYBRID_SESSION_REDIS_URL"
PASSWORD = "s3cret-Pw"


def _init(url: object, **config: t.Any) -> Flask:
    """An app that checks ``url`` but needs no Redis to start (jwt, revocation off)."""
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY=SECRET, HYBRID_SESSION_REVOCATION=False)
    app.config.update(config)
    app.config[KEY] = url
    HybridSession(app)
    return app


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


MALFORMED: list[tuple[str, str]] = [
    # One server: port, db, host, query.
    (f"redis://:{PASSWORD}@127.0.0.1:notaport/0", "port"),
    (f"redis://user:{PASSWORD}@127.0.0.1:99999/0", "port"),
    (f"redis://:{PASSWORD}@127.0.0.1:0/0", "port"),
    (f"redis://:{PASSWORD}@127.0.0.1:/0", "port"),
    (f"redis://:{PASSWORD}@127.0.0.1:\uff16\uff13\uff17\uff19/0", "port"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/notadb", "db"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/-1", "db"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0/1", "db"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0?db=x", "query"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0?socket_timeout=soon", "query"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0?socket_timeout=nan", "socket_timeout"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0?nosuchoption=1", "nosuchoption"),
    (f"rediss://:{PASSWORD}@127.0.0.1:6379/0?ssl_cert_reqs=maybe", "query"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0?protocol=9", "query"),
    (f"redis://:{PASSWORD}@/0", "host"),
    (f"redis://:{PASSWORD}@[::1:6379/0", "host"),
    (f"redis://user:{PASSWORD}\uff03@127.0.0.1:6379/0", "URL"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0 ", "space"),
    (f"redis://:{PASSWORD}@127.0.0.1:6379/\n0", "space"),
    (f"redis:{PASSWORD}@127.0.0.1:6379/0", "://"),
    (f"unix://:{PASSWORD}@", "socket"),
    (f"unix://:{PASSWORD}@relative/redis.sock", "socket"),
    # Wrong scheme.
    (f"http://:{PASSWORD}@127.0.0.1:6379", "scheme"),
    (f"redis+other://:{PASSWORD}@127.0.0.1:6379", "scheme"),
    (f"{PASSWORD}", "scheme"),
    # Sentinel and Cluster host lists.
    (f"redis+sentinel://:{PASSWORD}@h1:26379,h2:notaport/mymaster", "port"),
    (f"redis+sentinel://:{PASSWORD}@h1:99999/mymaster", "port"),
    (f"redis+sentinel://:{PASSWORD}@h1:26379,/mymaster", "host:port"),
    (f"redis+sentinel://:{PASSWORD}@/mymaster", "host:port"),
    (f"redis+sentinel://:{PASSWORD}@h1:²/mymaster", "port"),
    (f"redis+sentinel://:{PASSWORD}@h1:26379/mymaster/x", "/service_name"),
    (f"redis+sentinel://:{PASSWORD}@h1:26379/mymaster/99999999999", "db"),
    (f"redis+sentinel://:{PASSWORD}@h1:26379", "/service_name"),
    (f"redis+cluster://:{PASSWORD}@h1:7000,h2", "host:port"),
    (f"redis+cluster://:{PASSWORD}@h1:7000/1", "no path"),
    (f"redis+cluster://:{PASSWORD}@h1:7000,h2:7001x", "port"),
    (f"redis+cluster://:{PASSWORD}@[::1:7000", "host"),
    (f"rediss+cluster://:{PASSWORD}@h1:7000,h2:70000", "port"),
]


@pytest.mark.parametrize(("url", "says"), MALFORMED, ids=[repr(u) for u, _ in MALFORMED])
def test_malformed_url_is_a_configuration_error(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _init(url)
    message = str(info.value)
    assert info.value.key == KEY
    assert message.startswith(f"{KEY}: ")
    assert says in message
    # The accepted forms, so the fix is in the message.
    for form in ("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://"):
        assert form in message
    # Never the password: not in the message, nor anywhere in the chain or traceback.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    for exc in _chain(info.value):
        assert PASSWORD not in str(exc)
        assert PASSWORD not in repr(exc)
    assert PASSWORD not in "".join(traceback.format_exception(info.value))


@pytest.mark.parametrize("mode", ["server", "auto"])
def test_malformed_url_fails_at_init_app_in_every_mode(mode: str) -> None:
    with pytest.raises(ConfigurationError, match=KEY):
        _init("redis://127.0.0.1:notaport/0", HYBRID_SESSION_MODE=mode)


WELL_FORMED = [
    "redis://127.0.0.1:6379/0",
    "redis://127.0.0.1:6379",
    "redis://127.0.0.1:6379/",
    "redis://localhost",
    "REDIS://localhost:6379/3",
    "redis://user:p%40ss@127.0.0.1:6379/15",
    "redis://:pw@[::1]:6379/2",
    "redis://127.0.0.1:6379/0?socket_timeout=0.25&client_name=shop",
    "redis://127.0.0.1:6379?db=4",
    "rediss://:pw@redis.internal:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem",
    "unix:///tmp/redis.sock",
    "unix://:pw@/tmp/redis.sock?db=1",
    "redis+sentinel://:pw@h1:26379,h2:26380/mymaster",
    "rediss+sentinel://u:pw@h1:26379,[::1]:26380/mymaster/2?sentinel_password=sp",
    "redis+cluster://127.0.0.1:7000",
    "rediss+cluster://:pw@node-1:6379,node-2:6379",
]


@pytest.mark.parametrize("url", WELL_FORMED)
def test_well_formed_urls_are_accepted(url: str) -> None:
    app = _init(url)
    assert app.config[KEY] == url


@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda scheme, userinfo, host, port, path, query: (
                f"{scheme}://{userinfo}{host}{port}{path}{query}"
            ),
            st.sampled_from(
                [
                    "redis",
                    "rediss",
                    "unix",
                    "redis+sentinel",
                    "rediss+sentinel",
                    "redis+cluster",
                    "rediss+cluster",
                    "REDIS",
                    "http",
                ]
            ),
            st.sampled_from(["", "u:pw@", ":pw@", "u@", ":@"])
            | st.text(max_size=12).map(lambda text: text + "@"),
            st.sampled_from(["127.0.0.1", "[::1]", "h1:1,h2:2", "localhost", ""])
            | st.text(max_size=12),
            st.sampled_from(["", ":6379", ":0", ":65536", ":x"])
            | st.integers(-5, 70000).map(lambda port: f":{port}"),
            st.sampled_from(["", "/", "/0", "/15", "/svc", "/svc/1", "/run/redis.sock"])
            | st.text(max_size=12).map(lambda text: "/" + text),
            st.sampled_from(["", "?db=1", "?socket_timeout=1", "?sentinel_password=x", "?x=1"])
            | st.text(max_size=12).map(lambda text: "?" + text),
        ),
    )
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_is_a_working_config_or_a_configuration_error(url: str) -> None:
    """Never a ValueError, TypeError or UnicodeError of urllib or redis-py."""
    try:
        app = _init(url)
    except ConfigurationError as exc:
        assert exc.key == KEY
        return
    # Accepted: the client builds (connects to nothing yet; a cluster client
    # would connect at once, so its URL is only parsed).
    found = load_settings(app)
    if "cluster" not in url.split("://", 1)[0].lower():
        client, _ = connect(found, app)
        client.close()
