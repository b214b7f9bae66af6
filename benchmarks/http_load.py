"""End-to-end requests/s through gunicorn: ``python -m benchmarks.http_load``.

The peers' shop (``benchmarks.peers``) served by ``gunicorn
'benchmarks.http_apps:make_app()'`` with 1 and then 2 sync workers on
127.0.0.1 and a free port, one gunicorn per variant, all against one
redis-server of our own. Variants by default: ``A`` (Flask's cookie), ``B``
(Flask-Session, Redis, defaults), ours ``jwt`` and ours ``server``.

The load generator is a bounded client in this process: a few threads, each
logged in once with its own session, each sending plain HTTP/1.1 requests
over a new loopback connection (gunicorn's sync workers close the connection
after every response, so there is no keep-alive to reuse). Every request
carries the thread's session cookie. Two phases per variant: a fixed number of
reads (``GET /cart``), then a fixed number of mixed requests (3 writes,
``POST /cart``, in every 10). A non-200 answer, a read that lost the session,
or a socket error is an error, and any error stops the run with a message.

For each worker count the gunicorns start together; the variants then take
turns, one phase each, in an order that rotates every repeat, so drift spreads
over all of them. Reported: the median requests/s over the repeats and the
median of the per-repeat ratios to ``A``. Bounded: a fixed request count per
phase, a wall-clock cap per phase, and an overall budget after which no repeat
starts. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import itertools
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

from .http_apps import BUILDERS
from .http_apps import PORT_ENV
from .http_apps import VARIANT_ENV
from .peers import CART_ITEMS
from .peers import PEERS_INSTALL
from .peers import USER_ID
from .peers import has_module
from .peers import target_lines
from .peers import versions
from .wire import exit_on_sigterm
from .wire import start_server

ROOT: t.Final = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS: t.Final = ("A", "B", "jwt", "server")
COOKIE: t.Final = "session"
#: Writes in a mixed phase: these positions of every 10 requests.
WRITE_SLOTS: t.Final = frozenset({2, 5, 8})
#: The longest response read (the shop's answers are a few hundred bytes).
MAX_RESPONSE: t.Final = 1 << 20
SOCKET_TIMEOUT: t.Final = 10.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much load: request counts, threads, repeats and time caps."""

    workers: tuple[int, ...]
    reads: int
    mixed: int
    threads: int
    repeats: int
    warm: int
    phase_cap: float
    budget: float


FULL: t.Final = Plan((1, 2), 2000, 1000, 4, 3, 200, 60.0, 900.0)
QUICK: t.Final = Plan((1, 2), 500, 250, 4, 1, 50, 30.0, 300.0)
SMOKE: t.Final = Plan((1, 2), 100, 50, 2, 1, 10, 15.0, 60.0)


class LoadError(RuntimeError):
    """A request failed: a non-200 answer, a lost session, or a socket error."""


# The servers.


@dataclasses.dataclass
class Server:
    variant: str
    workers: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn_args(workers: int, port: int) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
        "--timeout",
        "30",
        "--graceful-timeout",
        "2",
    ]
    if "--no-control-socket" in gunicorn_flags():
        # gunicorn 24+ opens a control socket by default; nothing here needs it.
        args.append("--no-control-socket")
    return [*args, "benchmarks.http_apps:make_app()"]


def gunicorn_flags() -> set[str]:
    """gunicorn's command-line flags, from its own settings table."""
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    return {flag for setting in settings for flag in (setting.cli or ())}


def start_gunicorn(variant: str, workers: int, redis_port: int, workdir: str) -> Server:
    """One gunicorn in its own process group, so stopping it stops its workers."""
    port = free_port()
    log = Path(workdir) / f"gunicorn-{variant}-{workers}.log"
    env = {**os.environ, VARIANT_ENV: variant, PORT_ENV: str(redis_port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            gunicorn_args(workers, port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    return Server(variant, workers, port, process, log)


def wait_ready(server: Server, deadline: float) -> None:
    """Until the server answers HTTP (any status), its process dies, or the deadline."""
    request = get_request(server.port, None)
    while True:
        if server.process.poll() is not None:
            raise LoadError(f"gunicorn for {server.variant} exited: {tail(server.log)}")
        try:
            exchange(server.port, request, timeout=1.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise LoadError(
                    f"gunicorn for {server.variant} did not answer in time: {tail(server.log)}"
                ) from None
            time.sleep(0.05)


def stop(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL after 5 s."""
    process = server.process
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass
    # Workers that outlived their arbiter are in the same group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all(servers: list[Server]) -> None:
    """Stop every server, with SIGTERM and SIGINT held until all are down.

    Held, so a second signal (the first one may be why we are here) cannot cut
    the loop short and leave a gunicorn behind; a held signal arrives after.
    """
    held = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        for server in servers:
            stop(server)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return "(no log)"


# The client.


def get_request(port: int, cookie: str | None) -> bytes:
    header = f"Cookie: {COOKIE}={cookie}\r\n" if cookie else ""
    return (
        f"GET /cart HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}Connection: close\r\n\r\n"
    ).encode()


def post_request(port: int, path: str, cookie: str | None) -> bytes:
    header = f"Cookie: {COOKIE}={cookie}\r\n" if cookie else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


def exchange(port: int, request: bytes, timeout: float = SOCKET_TIMEOUT) -> bytes:
    """Send one request on a new connection and read the answer to the server's close."""
    chunks = []
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while received <= MAX_RESPONSE:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            received += len(data)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    try:
        return int(response[9:12])
    except ValueError:
        return 0


def session_cookie(response: bytes) -> str:
    head = response.partition(b"\r\n\r\n")[0].decode("latin-1")
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie" and value.strip().startswith(f"{COOKIE}="):
            return value.strip().split(";", 1)[0][len(COOKIE) + 1 :]
    raise LoadError(f"no {COOKIE} cookie in the login answer: {head[:300]!r}")


@dataclasses.dataclass
class Visitor:
    """One client thread's session: its cookie and its two prepared requests."""

    read: bytes
    write: bytes


def log_in(port: int) -> Visitor:
    """Log in (a full cart and the user id) and check that a read sees the session."""
    response = exchange(port, post_request(port, "/login", None))
    if status_of(response) != 200:
        raise LoadError(f"login answered {response[:200]!r}")
    cookie = session_cookie(response)
    visitor = Visitor(get_request(port, cookie), post_request(port, "/cart", cookie))
    answer = exchange(port, visitor.read)
    expected = f"{USER_ID}:{CART_ITEMS}:".encode()
    if status_of(answer) != 200 or expected not in answer:
        raise LoadError(f"a read after login answered {answer[:300]!r}")
    return visitor


@dataclasses.dataclass
class Phase:
    requests: int
    errors: int
    seconds: float
    capped: bool
    client_cpu_s: float
    first_error: str

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_phase(port: int, visitors: list[Visitor], total: int, mixed: bool, cap: float) -> Phase:
    """``total`` requests from one thread per visitor; stops early at ``cap`` seconds."""
    counter = itertools.count()
    lock = threading.Lock()
    done = [0]
    errors: list[str] = []
    expected = USER_ID.encode()
    start_line = threading.Barrier(len(visitors) + 1)
    started = [0.0]

    def work(visitor: Visitor) -> None:
        mine = failed = 0
        first = ""
        start_line.wait()
        deadline = started[0] + cap
        for _ in range(total):
            number = next(counter)
            if number >= total or time.perf_counter() > deadline:
                break
            write = mixed and number % 10 in WRITE_SLOTS
            try:
                response = exchange(port, visitor.write if write else visitor.read)
            except OSError as exc:
                failed += 1
                first = first or f"{type(exc).__name__}: {exc}"
                continue
            if status_of(response) != 200 or (not write and expected not in response):
                failed += 1
                first = first or repr(response[:300])
                continue
            mine += 1
        with lock:
            done[0] += mine
            if failed:
                errors.extend([first] * failed)

    threads = [threading.Thread(target=work, args=(v,), daemon=True) for v in visitors]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    started[0] = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join(cap + SOCKET_TIMEOUT + 5)
    seconds = time.perf_counter() - started[0]
    if any(thread.is_alive() for thread in threads):
        raise LoadError("a client thread did not finish in time")
    return Phase(
        requests=done[0],
        errors=len(errors),
        seconds=seconds,
        capped=done[0] + len(errors) < total,
        client_cpu_s=time.process_time() - cpu,
        first_error=errors[0] if errors else "",
    )


# The run.

PHASES: t.Final = ("reads", "mixed")


def run(plan: Plan, names: t.Sequence[str], redis_port: int, workdir: str) -> dict[str, t.Any]:
    """Every worker count, every variant, every repeat: the raw phase results."""
    started = time.monotonic()
    results: dict[str, t.Any] = {}
    for workers in plan.workers:
        servers: list[Server] = []
        try:
            for name in names:
                # (Not with signals held: a child would inherit the mask and
                # ignore the SIGTERM that stops it.)
                servers.append(start_gunicorn(name, workers, redis_port, workdir))
            for server in servers:
                wait_ready(server, time.monotonic() + 30)
            visitors = {s.variant: [log_in(s.port) for _ in range(plan.threads)] for s in servers}
            for server in servers:  # warm: every worker imported, connected, scripts loaded
                check(server, run_phase(server.port, visitors[server.variant], plan.warm, True, 10))
            samples: dict[str, dict[str, list[Phase]]] = {
                s.variant: {phase: [] for phase in PHASES} for s in servers
            }
            done = 0
            for repeat in range(plan.repeats):
                if repeat and time.monotonic() > started + plan.budget:
                    print(f"time budget spent: {repeat} repeats", file=sys.stderr)
                    break
                shift = repeat % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    for phase, total in (("reads", plan.reads), ("mixed", plan.mixed)):
                        result = run_phase(
                            server.port,
                            visitors[server.variant],
                            total,
                            phase == "mixed",
                            plan.phase_cap,
                        )
                        check(server, result)
                        samples[server.variant][phase].append(result)
                done += 1
                print(f"{workers} worker(s): repeat {done}/{plan.repeats} done", file=sys.stderr)
            results[str(workers)] = {"repeats_done": done, "samples": samples}
        finally:
            stop_all(servers)
    return results


def check(server: Server, phase: Phase) -> None:
    if phase.errors:
        raise LoadError(
            f"{server.variant} with {server.workers} worker(s): {phase.errors} failed"
            f" requests of {phase.requests}; first: {phase.first_error}"
        )


def summarise(raw: dict[str, t.Any], names: t.Sequence[str]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    for workers, entry in raw.items():
        samples: dict[str, dict[str, list[Phase]]] = entry["samples"]
        rows = []
        for name in names:
            row: dict[str, t.Any] = {"key": name, "label": BUILDERS[name][0]}
            for phase in PHASES:
                mine = samples[name][phase]
                base = samples["A"][phase] if "A" in samples else None
                rates = [p.per_second for p in mine]
                row[phase] = {
                    "requests_per_s": statistics.median(rates),
                    "ratio_to_A": statistics.median(
                        m.per_second / a.per_second for m, a in zip(mine, base, strict=True)
                    )
                    if base
                    else None,
                    "requests": [p.requests for p in mine],
                    "seconds": [round(p.seconds, 3) for p in mine],
                    "capped": any(p.capped for p in mine),
                    "client_cpu_us_per_request": statistics.median(
                        p.client_cpu_s / p.requests * 1e6 for p in mine if p.requests
                    ),
                    "samples_per_s": rates,
                }
            rows.append(row)
        out[workers] = {"repeats_done": entry["repeats_done"], "variants": rows}
    return out


def targets(summary: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """With 2 workers: ours jwt at least 1.1x A (issue 18), server at least 1.2x B (issue 19)."""
    found: list[dict[str, t.Any]] = []
    two = summary.get("2")
    if two is None:
        return found
    rows = {row["key"]: row for row in two["variants"]}
    for mine, base, limit in (("jwt", "A", 1.1), ("server", "B", 1.2)):
        if mine not in rows or base not in rows:
            continue
        for phase in PHASES:
            # The median of per-repeat ratios, as the table's /A and as
            # benchmarks.peers: each repeat runs the variants one after
            # the other, so the pair shares the machine's state.
            value = statistics.median(
                m / b
                for m, b in zip(
                    rows[mine][phase]["samples_per_s"],
                    rows[base][phase]["samples_per_s"],
                    strict=True,
                )
            )
            found.append(
                {
                    "target": f"2 workers, {phase}: {mine} >= {limit:g}x {base} requests/s",
                    "value": round(value, 3),
                    "limit": limit,
                    "met": value >= limit,
                }
            )
    return found


def table(summary: dict[str, t.Any]) -> str:
    lines = [
        "| workers | variant | reads req/s | reads /A | mixed req/s | mixed /A"
        " | client CPU µs/req (reads) |",
        "|--:|---|--:|--:|--:|--:|--:|",
    ]
    for workers, entry in summary.items():
        for row in entry["variants"]:
            cells = []
            for phase in PHASES:
                data = row[phase]
                ratio = data["ratio_to_A"]
                capped = " (capped)" if data["capped"] else ""
                cells += [
                    f"{data['requests_per_s']:.0f}{capped}",
                    "-" if ratio is None else f"{ratio:.2f}",
                ]
            lines.append(
                f"| {workers} | {row['label']} | {' | '.join(cells)}"
                f" | {row['reads']['client_cpu_us_per_request']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http_load", description=(__doc__ or "").split("\n\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="500 reads + 250 mixed, 4 threads, 1 repeat"
    )
    size.add_argument(
        "--smoke", action="store_true", help="100 reads + 50 mixed, 2 threads, 1 repeat"
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated keys among {', '.join(BUILDERS)} (A is always added)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where http.json and http.md go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    names = [name for name in args.variants.split(",") if name]
    unknown = [name for name in names if name not in BUILDERS]
    if unknown:
        parser.error(f"unknown variants {unknown}; use {', '.join(BUILDERS)}")
    names = ["A", *(name for name in names if name != "A")]
    needed = ["gunicorn"]
    if any(name.startswith("B") for name in names):
        needed.append("flask_session")
    for module in needed:
        if not has_module(module):
            sys.exit(f"{module} is missing; install the peers: {PEERS_INSTALL}")

    exit_on_sigterm()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hs-http-") as workdir:
        process, redis_port = start_server(workdir)
        try:
            raw = run(plan, names, redis_port, workdir)
        except LoadError as exc:
            sys.exit(f"http_load failed: {exc}")
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
            process.terminate()
            process.wait()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    summary = summarise(raw, names)
    found = targets(summary)
    meta = {
        "command": "python -m benchmarks.http_load"
        + (" --smoke" if args.smoke else " --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "plan": dataclasses.asdict(plan),
        "write_share": len(WRITE_SLOTS) / 10,
        "seconds": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions(),
    }
    markdown = (
        f"{plan.reads} reads and {plan.mixed} mixed requests ({len(WRITE_SLOTS)} writes in 10)"
        f" per variant and repeat, {plan.threads} client threads, a new connection per"
        f" request; median over repeats, /A the median of per-repeat ratios."
        f" {meta['seconds']} s.\n\n{table(summary)}\n\n"
        f"Targets of issues 18 and 19:\n{target_lines(found)}\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "http.json").write_text(
        json.dumps(
            {"meta": meta, "workers": summary, "targets": found}, indent=2, ensure_ascii=False
        )
        + "\n"
    )
    (args.out / "http.md").write_text(markdown)
    print(markdown)
    print(f"wrote {args.out / 'http.json'} and {args.out / 'http.md'}")


if __name__ == "__main__":
    main()
