"""One command on a pooled connection of a client we built, without ``execute_command``.

redis-py's ``execute_command`` does per-call bookkeeping a session's one
script call does not need (its options, its response callbacks, in 6.x and
later its observability hooks), and packs with a general encoder. This sends
the same bytes on the same pool, with the same retry policy the client was
built with, for about 30 µs less per request. Only for clients the package
built (:mod:`.redis_connect`): a client the app hands in is used through its
public API, so its own instrumentation sees every call.
"""

from __future__ import annotations

import inspect
import typing as t

import redis
from redis.exceptions import NoScriptError

#: ``ConnectionPool.get_connection`` takes a command name before redis-py 5.3,
#: and warns when given one after.
_NAMELESS: t.Final = (
    inspect.signature(redis.ConnectionPool.get_connection).parameters["command_name"].default
    is not inspect.Parameter.empty
)
_COMMAND_NAME: t.Final[tuple[str, ...]] = () if _NAMELESS else ("EVALSHA",)


def pack(command: tuple[t.Any, ...], encoder: t.Any) -> bytes:
    """``command`` in RESP, byte for byte as redis-py's ``pack_command`` writes
    it. Bytes and str, what ops carry, are taken here; anything else goes
    through redis-py's encoder, which writes numbers and refuses the rest."""
    parts = [b"*%d\r\n" % len(command)]
    append = parts.append
    for arg in command:
        kind = type(arg)
        if kind is bytes:
            data = arg
        elif kind is str:
            data = arg.encode(encoder.encoding, encoder.encoding_errors)
        else:
            data = encoder.encode(arg)
        append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def send_one(client: redis.Redis, command: tuple[t.Any, ...]) -> t.Any:
    """Send ``command`` on a connection of ``client``'s pool and read its reply.

    The retry is the connection's own (the package's policy: a dropped
    connection is made again once, after a connection error only), and the
    connection goes back to the pool whatever happens.

    :return: the reply, or the :class:`~redis.exceptions.NoScriptError` Redis
        answered (the caller loads the scripts and sends again).
    """
    pool = client.connection_pool
    connection = pool.get_connection(*_COMMAND_NAME)
    packed = pack(command, connection.encoder)

    def exchange() -> t.Any:
        connection.send_packed_command([packed])  # type: ignore[no-untyped-call]
        return connection.read_response()

    try:
        return connection.retry.call_with_retry(
            exchange,
            lambda _: connection.disconnect(),  # type: ignore[no-untyped-call]
        )
    except NoScriptError as exc:
        return exc
    finally:
        pool.release(connection)
