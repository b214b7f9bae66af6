"""The Redis client code: one op sent without ``execute_command``, on a real server."""

from __future__ import annotations

import typing as t

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from flask_hybridsession.keys import KeyNames
from flask_hybridsession.stores.redis_client import RedisBackend
from flask_hybridsession.stores.redis_connect import _retry
from flask_hybridsession.stores.redis_wire import pack

from ..conftest import RedisServer

_ARGS = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=6000, max_size=7000),  # past redis-py's buffer cutoff
        st.text(max_size=32),
        st.integers(),
        st.floats(allow_nan=False),
    ),
    max_size=24,
)


@given(args=_ARGS)
def test_pack_writes_what_redis_py_writes(args: list[t.Any]) -> None:
    connection: t.Any = redis.Connection(encoding_errors="surrogatepass")  # type: ignore[no-untyped-call]
    command = ("EVALSHA", *args)
    assert pack(command, connection.encoder) == b"".join(connection.pack_command(*command))


def test_pack_refuses_what_redis_py_refuses() -> None:
    encoder = redis.Connection().encoder  # type: ignore[no-untyped-call]
    with pytest.raises(redis.DataError):
        pack(("EVALSHA", True), encoder)
    with pytest.raises(redis.DataError):
        pack(("EVALSHA", None), encoder)


def _create(token_hash: bytes) -> t.Any:
    return dict(
        expect=None,
        token_hash=token_hash,
        now_ms=1000,
        deadline_ms=10**13,
        idle_ms=0,
        fields={b"m": b"meta"},
    )


class Recording(redis.Redis):
    """A client whose every ``execute_command`` is seen, as tracing sees it."""

    calls: list[str]

    def execute_command(self, *args: t.Any, **options: t.Any) -> t.Any:
        self.calls.append(args[0])
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def _recording(server: RedisServer) -> Recording:
    client = Recording(host="127.0.0.1", port=server.port, **_retry())
    client.calls = []
    return client


def test_an_apps_own_client_sees_every_call(redis_server: RedisServer, rdb: redis.Redis) -> None:
    client = _recording(redis_server)
    backend = RedisBackend(client, KeyNames("hs:"))
    assert backend.run([backend.write("A" * 22, **_create(b"t1"))]) == [[1]]
    assert client.calls[-1] == "EVALSHA"


def test_a_client_built_here_goes_around_execute_command(
    redis_server: RedisServer, rdb: redis.Redis
) -> None:
    client = _recording(redis_server)
    backend = RedisBackend(client, KeyNames("hs:"), built_here=True)
    assert backend.run([backend.write("B" * 22, **_create(b"t1"))]) == [[1]]
    assert "EVALSHA" not in client.calls
    assert rdb.hget("hs:{s:" + "B" * 22 + "}", "t") == b"t1"


def test_a_connection_redis_closed_is_replaced(redis_server: RedisServer, rdb: redis.Redis) -> None:
    client = _recording(redis_server)
    backend = RedisBackend(client, KeyNames("hs:"), built_here=True)
    assert backend.run([backend.write("C" * 22, **_create(b"t1"))]) == [[1]]
    victim = client.client_id()  # the pool's one connection, the op's too
    assert rdb.client_kill_filter(_id=str(victim)) == 1
    # The pooled connection is closed by the server: the next op gets a new one.
    write = backend.write("D" * 22, **_create(b"t2"))
    assert backend.run([write]) == [[1]]
    assert rdb.hget("hs:{s:" + "D" * 22 + "}", "t") == b"t2"


def test_scripts_lost_by_the_server_are_loaded_again(
    redis_server: RedisServer, rdb: redis.Redis
) -> None:
    backend = RedisBackend(redis_server.client(), KeyNames("hs:"), built_here=True)
    assert backend.run([backend.write("E" * 22, **_create(b"t1"))]) == [[1]]
    rdb.script_flush()
    assert backend.run([backend.write("F" * 22, **_create(b"t2"))]) == [[1]]


def test_a_server_gone_is_a_store_error(redis_server: RedisServer, rdb: redis.Redis) -> None:
    backend = RedisBackend(
        redis.Redis(host="127.0.0.1", port=1, **_retry()), KeyNames("hs:"), built_here=True
    )
    with pytest.raises(redis.ConnectionError):
        backend.run([backend.write("G" * 22, **_create(b"t1"))])
