"""How a per-process revocation view could hear of revocations: pub/sub or client tracking.

Run: ``python -m benchmarks.push_probe`` (any interpreter with the package: the
lowest supported redis-py too). A measurement for a design choice, not a
regular benchmark: it prints findings and a table, and writes nothing.

The view would be a per-process cache of sids already checked as not revoked.
Four ways to push a revocation to it, each timed with 4 subscriber processes
and a writer (this process) that issues 1,000 revocations, each one EVALSHA
of a script that writes ``<prefix>rev:<sid>``:

- ``pubsub``: the script also does ``PUBLISH <channel> <sid>``; each subscriber
  runs a redis-py ``PubSub`` (RESP2) in a background thread;
- ``bcast-resp3``: each subscriber opens a RESP3 connection with ``CLIENT
  TRACKING on BCAST PREFIX <prefix>`` and reads the invalidation pushes;
- ``bcast-redirect``: ``CLIENT TRACKING on REDIRECT <id> BCAST PREFIX`` sent to
  a RESP2 ``PubSub`` subscribed to ``__redis__:invalidate`` (no RESP3 needed);
- ``default-redirect``: tracking in the default mode (the server remembers the
  keys a connection read), redirected to such a ``PubSub``; each subscriber
  first reads every ``rev:<sid>`` key (all missing) on its tracked connection.

Latency of one revocation: the last subscriber's arrival minus the moment the
writer's call returned, both ``time.monotonic_ns()`` (CLOCK_MONOTONIC, one
clock for every process of the machine). Two pacings: one call per
millisecond, and back to back. The writer's cost per call is also timed with
no subscriber at all. Before that, one-process checks of what redis-py
exposes and of what the server sends (reads in Lua, FLUSHALL, eviction,
expiry, the tracking table's limit, a dropped push connection).

Bounded: 1,000 revocations a run, a 55 s deadline for the whole script, every
wait capped. Loopback only; the redis-server (see ``wire.py``) and the
subscriber processes are stopped on exit.
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import statistics
import tempfile
import threading
import time
import typing as t

import redis
from redis import _parsers

from .wire import exit_on_sigterm
from .wire import start_server

HOST: t.Final = "127.0.0.1"
REVOCATIONS: t.Final = 1000
SUBSCRIBERS: t.Final = 4
PACE_NS: t.Final = 1_000_000
#: The whole script stops starting work past this many seconds.
BUDGET: t.Final = 55.0
#: How long a run waits for the last arrivals after the writer's last call.
GRACE: t.Final = 2.0
MECHANISMS: t.Final = ("pubsub", "bcast-resp3", "bcast-redirect", "default-redirect")

PUBLISH_SCRIPT: t.Final = """
redis.call('SET', KEYS[1], '1', 'EX', 3600)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"""
SET_SCRIPT: t.Final = """
redis.call('SET', KEYS[1], '1', 'EX', 3600)
return 1
"""

DEADLINE = time.monotonic() + BUDGET
#: redis-py's connection class, untyped (its methods carry no annotations).
CONNECTION: t.Final[t.Any] = redis.Connection


def untyped(client: redis.Redis) -> t.Any:
    return client


def left() -> float:
    return DEADLINE - time.monotonic()


def key_of(prefix: str, sid: int) -> str:
    return f"{prefix}rev:{sid}"


def sid_of(key: bytes | str) -> int:
    text = key.decode() if isinstance(key, bytes) else key
    return int(text.rsplit(":", 1)[1])


# Reading RESP3 pushes, on any redis-py.


def push_reader_kind(parser: object) -> str:
    if hasattr(parser, "set_invalidation_push_handler"):
        return "set_invalidation_push_handler + read_response(push_request=True)"
    if hasattr(parser, "set_push_handler") and not is_hiredis_parser(parser):
        return "set_push_handler + read_response(push_request=True)"
    return "read_response() returns the push frame (hiredis PushNotification)"


def is_hiredis_parser(parser: object) -> bool:
    return type(parser).__name__ == "_HiredisParser"


class PushReader:
    """A dedicated RESP3 connection whose push frames are read one at a time.

    redis-py 8.2's parsers route an ``invalidate`` push to
    ``invalidation_push_handler_func`` (dropped when unset); 5.0's pure-Python
    RESP3 parser calls ``push_handler_func`` for every push; 5.0's hiredis
    parser has no push routing at all and returns the frame as a reply.
    """

    def __init__(self, port: int, parser_class: type | None = None) -> None:
        kwargs: dict[str, t.Any] = {"parser_class": parser_class} if parser_class else {}
        self.conn: t.Any = CONNECTION(host=HOST, port=port, protocol=3, socket_timeout=5, **kwargs)
        self.conn.connect()
        self.pending: list[list[t.Any]] = []
        parser: t.Any = self.conn._parser
        self.kind = push_reader_kind(parser)
        self.routed = not self.kind.startswith("read_response()")
        if hasattr(parser, "set_invalidation_push_handler"):
            parser.set_invalidation_push_handler(self._on_push)
            # Every other push (tracking-redir-broken...) goes to this one.
            parser.set_pubsub_push_handler(self._on_push)
        elif self.routed:
            parser.set_push_handler(self._on_push)

    def _on_push(self, frame: list[t.Any]) -> list[t.Any]:
        self.pending.append(list(frame))
        return frame

    def _read(self, push: bool) -> t.Any:
        if push and self.routed:
            return self.conn.read_response(push_request=True)
        return self.conn.read_response()

    @staticmethod
    def _is_push(reply: object) -> bool:
        return type(reply).__name__ == "PushNotification"

    def command(self, *args: t.Any) -> t.Any:
        """Send a command and return its reply, keeping pushes read on the way."""
        self.conn.send_command(*args)
        while True:
            reply = self._read(push=False)
            if not self.routed and self._is_push(reply):
                self.pending.append(list(reply))
                continue
            return reply

    def next(self, timeout: float) -> list[t.Any] | None:
        """The next push frame, or None after *timeout* seconds without one."""
        if not self.pending:
            if not self.conn.can_read(timeout=timeout):
                return None
            reply = self._read(push=True)
            if not self.routed and self._is_push(reply):
                self.pending.append(list(reply))
        return self.pending.pop(0) if self.pending else None

    def drain(self, seconds: float) -> list[list[t.Any]]:
        frames = []
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            frame = self.next(remaining)
            if frame is not None:
                frames.append(frame)
        return frames

    def client_id(self) -> int:
        return int(self.command("CLIENT", "ID"))

    def close(self) -> None:
        self.conn.disconnect()


def invalidated(frames: list[list[t.Any]]) -> list[str]:
    """The keys of ``invalidate`` frames; ``*ALL*`` for a null key list (a flush)."""
    keys = []
    for frame in frames:
        kind = frame[0].decode() if isinstance(frame[0], bytes) else frame[0]
        if kind != "invalidate":
            keys.append(f"<{kind}>")
        elif frame[1] is None:
            keys.append("*ALL*")
        else:
            keys.extend(k.decode() if isinstance(k, bytes) else k for k in frame[1])
    return keys


class RedirectTarget:
    """A ``PubSub`` on ``__redis__:invalidate``, named so its id can be found.

    RESP2 unless *protocol* says otherwise: a RESP3 connection gets the
    invalidations as ``invalidate`` pushes, not as messages of the channel.
    """

    def __init__(self, port: int, name: str, protocol: int | None = 2) -> None:
        self.client = redis.Redis(host=HOST, port=port, client_name=name, protocol=protocol)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("__redis__:invalidate")
        admin = redis.Redis(host=HOST, port=port)
        deadline = time.monotonic() + 5
        while True:
            ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
            if ids or time.monotonic() > deadline:
                break
            time.sleep(0.002)
        admin.close()
        self.id = int(ids[0])

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


# What redis-py exposes, and what the server sends.


def report(label: str, value: object) -> None:
    print(f"- {label}: {value}")


def check_api(port: int, writer: redis.Redis) -> None:
    print(f"## redis-py {redis.__version__}, what works\n")
    pubsub_params = inspect.signature(redis.client.PubSub.__init__).parameters
    report("PubSub(push_handler_func=...) parameter", "push_handler_func" in pubsub_params)
    redis_params = inspect.signature(redis.Redis.__init__).parameters
    report("Redis(cache_config=...) client-side cache", "cache_config" in redis_params)
    variants: list[tuple[str, type | None]] = [("default parser", None)]
    if hasattr(_parsers, "_RESP3Parser"):
        variants.append(("pure-Python _RESP3Parser", _parsers._RESP3Parser))
    for label, parser_class in variants:
        try:
            reader = PushReader(port, parser_class)
            kind = f"{type(reader.conn._parser).__name__}: {reader.kind}"
            reader.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "api:")
            for n in range(3):
                writer.set(f"api:{label[:3]}{n}", 1)
            got = invalidated(reader.drain(0.3))
            reader.close()
            report(f"RESP3 tracking push, {label}", f"{kind} -> {got}")
        except Exception as error:
            report(f"RESP3 tracking push, {label}", f"FAILS: {error!r}")
    report("default protocol of redis.Redis()", f"RESP{CONNECTION().protocol}")
    for protocol in (2, None):
        target = RedirectTarget(port, f"api-redirect-{protocol}", protocol)
        tracked = redis.Redis(host=HOST, port=port, single_connection_client=True)
        untyped(tracked).execute_command(
            "CLIENT", "TRACKING", "on", "REDIRECT", target.id, "BCAST", "PREFIX", f"apr{protocol}:"
        )
        writer.set(f"apr{protocol}:1", 1)
        got = []
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            message = target.pubsub.get_message(timeout=0.05)
            if message:
                got.append(message["data"])
        label = "RESP2" if protocol else "default-protocol"
        report(f"{label} PubSub on __redis__:invalidate via REDIRECT, get_message", got)
        tracked.close()
        target.close()
    print()


def check_server(port: int, writer: redis.Redis) -> None:
    print(f"## redis-server {writer.info('server')['redis_version']}, what it sends\n")
    reader = PushReader(port)
    reader.command("CLIENT", "TRACKING", "on")
    reader.command("SET", "q:lua-declared", 1)
    reader.command("SET", "q:lua-undeclared", 1)
    reader.command("EVAL", "return redis.call('GET', KEYS[1])", 1, "q:lua-declared")
    reader.command("EVAL", "return redis.call('GET', ARGV[1])", 0, "q:lua-undeclared")
    reader.command("EVAL", "return redis.call('EXISTS', KEYS[1])", 1, "q:lua-exists-missing")
    reader.command("GET", "q:plain-missing")
    reader.command("EXISTS", "q:exists-missing")
    reader.drain(0.05)  # the SETs above invalidate nothing yet: nothing was read
    for key in (
        "q:lua-declared",
        "q:lua-undeclared",
        "q:lua-exists-missing",
        "q:plain-missing",
        "q:exists-missing",
    ):
        writer.set(key, 2)
    report("default mode, keys read and then written", sorted(invalidated(reader.drain(0.3))))
    writer.eval("redis.call('SET', KEYS[1], 3) return 1", 1, "q:plain-missing")
    reader.command("GET", "q:plain-missing")
    writer.eval("redis.call('SET', KEYS[1], 4) return 1", 1, "q:plain-missing")
    report("a write inside Lua invalidates", invalidated(reader.drain(0.3)))

    bcast = PushReader(port)
    bcast.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "q:")
    reader.command("GET", "q:lua-declared")
    writer.flushall()
    report("FLUSHALL, default mode", invalidated(reader.drain(0.3)))
    report("FLUSHALL, BCAST mode", invalidated(bcast.drain(0.3)))

    writer.set("q:expiring", 1, px=20)
    reader.command("GET", "q:expiring")
    time.sleep(0.03)  # past its 20 ms TTL; the GET below expires it lazily
    writer.get("q:expiring")
    report("expiry, default mode", invalidated(reader.drain(0.2)))
    report("expiry, BCAST mode", invalidated(bcast.drain(0.05)))

    writer.set("q:victim", 1, ex=3600)  # the only key with a TTL: volatile-ttl evicts it
    reader.command("GET", "q:victim")
    evicted_before = writer.info("stats")["evicted_keys"]
    used = writer.info("memory")["used_memory"]
    writer.config_set("maxmemory-policy", "volatile-ttl")
    writer.config_set("maxmemory", used + 200_000)
    filler = "x" * 1024
    try:
        for n in range(2000):
            if not writer.exists("q:victim"):
                break
            writer.set(f"fill:{n}", filler)
    except redis.ResponseError as error:  # OOM once nothing is left to evict
        report("filling stopped", error)
    finally:
        writer.config_set("maxmemory", 0)
        writer.config_set("maxmemory-policy", "noeviction")
    evicted = writer.info("stats")["evicted_keys"] - evicted_before
    report(f"eviction ({evicted} evicted), default mode", invalidated(reader.drain(0.3)))
    report("eviction, BCAST mode", invalidated(bcast.drain(0.05)))
    writer.flushall()
    reader.drain(0.05)
    bcast.drain(0.05)

    small = PushReader(port)
    small.command("CLIENT", "TRACKING", "on")
    writer.config_set("tracking-table-max-keys", 5)
    try:
        for n in range(10):
            small.command("GET", f"q:table:{n}")
        report(
            "tracking-table-max-keys 5, 10 keys read, no write",
            f"{len(invalidated(small.drain(0.3)))} invalidations",
        )
    finally:
        writer.config_set("tracking-table-max-keys", 0)
    small.close()

    bcast_id = bcast.client_id()
    writer.client_kill_filter(_id=str(bcast_id))
    try:
        bcast.next(1.0)
        outcome = "no error"
    except redis.ConnectionError as error:
        outcome = f"{type(error).__name__} raised"
    report("RESP3 push connection killed (CLIENT KILL)", outcome)
    bcast.close()

    target = RedirectTarget(port, "q-redirect")
    tracked = PushReader(port)
    tracked.command("CLIENT", "TRACKING", "on", "REDIRECT", target.id)
    tracked.command("GET", "q:redir")
    target.close()  # the redirect target goes away
    time.sleep(0.05)
    writer.set("q:redir", 1)
    report("REDIRECT target gone, tracked RESP3 client gets", invalidated(tracked.drain(0.3)))
    tracked.close()
    reader.close()
    check_pubsub_drop(port, writer)
    print()


def check_pubsub_drop(port: int, writer: redis.Redis) -> None:
    """What a ``PubSub`` thread does when its connection is killed."""
    got: list[bytes] = []
    errors: list[str] = []
    reconnects: list[int] = []

    class Watched(redis.client.PubSub):
        def on_connect(self, connection: t.Any) -> None:
            reconnects.append(1)
            super().on_connect(connection)

    client = redis.Redis(host=HOST, port=port, client_name="drop-probe")
    pubsub = Watched(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe(**{"drop-chan": lambda message: got.append(message["data"])})
    thread = pubsub.run_in_thread(
        sleep_time=0.05, daemon=True, exception_handler=lambda e, p, th: _stop(e, p, th, errors)
    )
    _wait_numsub(writer, "drop-chan", 1, 2.0)
    writer.publish("drop-chan", "before")
    time.sleep(0.05)
    connects_before = len(reconnects)
    writer.client_kill_filter(_type="pubsub")
    time.sleep(0.3)  # room for a silent reconnect
    writer.publish("drop-chan", "after")
    time.sleep(0.1)
    thread.stop()
    thread.join(timeout=1)
    pubsub.close()
    client.close()
    report(
        "PubSub.run_in_thread, connection killed",
        f"messages {got}, thread errors {errors},"
        f" on_connect calls before/after the kill {connects_before}/{len(reconnects)}",
    )


def _stop(error: BaseException, pubsub: t.Any, thread: t.Any, errors: list[str]) -> None:
    errors.append(type(error).__name__)
    thread.stop()


def _wait_numsub(admin: redis.Redis, channel: str, count: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if dict(admin.pubsub_numsub(channel)).get(channel.encode(), 0) >= count:
            return True
        time.sleep(0.005)
    return False


# The timed runs.


def subscriber(
    mechanism: str,
    port: int,
    prefix: str,
    number: int,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    results: multiprocessing.connection.Connection,
) -> None:
    """One subscriber process: record when each sid's revocation arrives."""
    arrivals = [0] * REVOCATIONS
    seen = [0]
    done = threading.Event()

    def arrive(sid: int) -> None:
        now = time.monotonic_ns()
        if 0 <= sid < REVOCATIONS and not arrivals[sid]:
            arrivals[sid] = now
            seen[0] += 1
            if seen[0] == REVOCATIONS:
                done.set()

    closers: list[t.Callable[[], object]] = []
    if mechanism == "pubsub":
        client = redis.Redis(host=HOST, port=port)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(**{prefix: lambda m: arrive(int(m["data"]))})
        thread = pubsub.run_in_thread(sleep_time=0.1, daemon=True)
        closers += [thread.stop, lambda: thread.join(1), pubsub.close]
    elif mechanism == "bcast-resp3":
        reader = PushReader(port)
        reader.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", prefix)

        def loop() -> None:
            while not done.is_set() and not stop.is_set():
                frame = reader.next(0.1)
                if frame is not None and frame[1] is not None:
                    for key in frame[1]:
                        arrive(sid_of(key))

        reading = threading.Thread(target=loop, daemon=True)
        reading.start()
        closers += [done.set, lambda: reading.join(1), reader.close]
    else:
        target = RedirectTarget(port, f"{prefix}{number}")
        tracked = redis.Redis(host=HOST, port=port, single_connection_client=True)
        if mechanism == "bcast-redirect":
            mode: tuple[str, ...] = ("BCAST", "PREFIX", prefix)
        else:
            mode = ()
        untyped(tracked).execute_command("CLIENT", "TRACKING", "on", "REDIRECT", target.id, *mode)
        if not mode:  # default mode: the server tracks what this connection reads
            # One by one: a pipeline would take another connection from the pool.
            for sid in range(REVOCATIONS):
                tracked.exists(key_of(prefix, sid))

        def on_message(message: dict[str, t.Any]) -> None:
            for key in message["data"] or ():
                arrive(sid_of(key))

        target.pubsub.subscribe(**{"__redis__:invalidate": on_message})
        thread = target.pubsub.run_in_thread(sleep_time=0.1, daemon=True)
        closers += [thread.stop, lambda: thread.join(1), target.close, tracked.close]
    ready.set()
    while not done.wait(0.05) and not stop.is_set():
        pass
    results.send(arrivals)
    for close in closers:
        with contextlib.suppress(Exception):
            close()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def run(
    mechanism: str, port: int, admin: redis.Redis, count: int, paced: bool, tag: str
) -> dict[str, t.Any] | None:
    """One run: *count* subscribers, 1,000 revocations; None if out of time."""
    if left() < 3 + GRACE:
        return None
    prefix = f"pp{tag}:"
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    processes = []
    pipes = []
    readies = []
    try:
        for number in range(count):
            ready = context.Event()
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=subscriber,
                args=(mechanism, port, prefix, number, ready, stop, send),
                daemon=True,
            )
            process.start()
            processes.append(process)
            pipes.append(receive)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(timeout=max(0.1, min(10.0, left()))):
                raise RuntimeError(f"{mechanism}: a subscriber did not start")
        if mechanism == "pubsub" and not _wait_numsub(admin, prefix, count, 5.0):
            raise RuntimeError("pubsub: subscribers did not subscribe")
        writer = redis.Redis(host=HOST, port=port, single_connection_client=True)
        script = writer.register_script(PUBLISH_SCRIPT if mechanism == "pubsub" else SET_SCRIPT)
        script(keys=[key_of(prefix, -1)], args=[prefix, -1])  # loads it: EVALSHA from now on
        admin.config_resetstat()
        starts = [0] * REVOCATIONS
        returns = [0] * REVOCATIONS
        next_at = time.monotonic_ns()
        for sid in range(REVOCATIONS):
            if paced:
                next_at += PACE_NS
            starts[sid] = time.monotonic_ns()
            script(keys=[key_of(prefix, sid)], args=[prefix, sid])
            returns[sid] = time.monotonic_ns()
            if paced and (wait := next_at - time.monotonic_ns()) > 0:
                time.sleep(wait / 1e9)
        writer.close()
        server_us = admin.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
        arrivals = []
        end = time.monotonic() + min(GRACE, max(0.0, left()))
        for pipe in pipes:
            if pipe.poll(max(0.0, end - time.monotonic())):
                arrivals.append(pipe.recv())
            else:
                stop.set()
                arrivals.append(pipe.recv() if pipe.poll(1.0) else [0] * REVOCATIONS)
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=1)
            if process.is_alive():
                process.kill()
                process.join(timeout=1)
    cost = [(r - s) / 1000 for s, r in zip(starts, returns, strict=True)]
    latency = []
    missing = 0
    for sid in range(REVOCATIONS):
        got = [a[sid] for a in arrivals]
        if not got:
            break
        if not all(got):
            missing += 1
            continue
        latency.append((max(got) - returns[sid]) / 1000)
    return {
        "latency": percentiles(latency),
        "missing": missing,
        "cost": percentiles(cost),
        "server_us": server_us,
    }


def fmt(stats: dict[str, float]) -> str:
    return f"{stats['p50']:.0f} / {stats['p99']:.0f} / {stats['max']:.0f}"


def timed_runs(port: int, admin: redis.Redis) -> None:
    print(
        f"## {REVOCATIONS} revocations, {SUBSCRIBERS} subscriber processes; µs, p50 / p99 / max\n"
    )
    print(
        "Latency: last subscriber's arrival minus the writer's return (negative: the push"
        " arrived first).\nWriter cost: the client's call, back to back; in Redis: EVALSHA's"
        f" usec_per_call. pubsub subscribers use RESP{CONNECTION().protocol}.\n"
    )
    print(
        "| mechanism | latency, 1/ms | missing | latency, back to back | missing |"
        " writer cost, 0 subs | writer cost, 4 subs | in Redis, 0 / 4 subs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for number, mechanism in enumerate(MECHANISMS):
        alone = run(mechanism, port, admin, 0, paced=False, tag=f"{number}a")
        paced = run(mechanism, port, admin, SUBSCRIBERS, paced=True, tag=f"{number}p")
        burst = run(mechanism, port, admin, SUBSCRIBERS, paced=False, tag=f"{number}b")
        cells = []
        for result in (paced, burst):
            cells += [fmt(result["latency"]), str(result["missing"])] if result else ["-", "-"]
        cells += [fmt(r["cost"]) if r else "-" for r in (alone, burst)]
        cells.append(" / ".join(f"{r['server_us']:.1f}" if r else "-" for r in (alone, burst)))
        print(f"| {mechanism} | {' | '.join(cells)} |", flush=True)
        admin.flushall()
    if left() < 0:
        print("\n(out of time: '-' marks runs not made)")


def main() -> None:
    exit_on_sigterm()
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(workdir)
        try:
            admin = redis.Redis(host=HOST, port=port)
            admin.config_set("appendonly", "no")
            check_api(port, admin)
            check_server(port, admin)
            timed_runs(port, admin)
            admin.close()
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
