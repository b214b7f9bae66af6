"""Publish the benchmark figures: ``python -m benchmarks.publish``.

Every figure of a benchmark that README.md and benchmarks/README.md show comes
from one committed file, ``benchmarks/published.json``, so the two cannot
disagree with each other or with the run they describe. That file holds the
JSON of one ``make bench`` run, as the scripts write it::

    {"commit": ..., "peers": <latest.json>, "http": <http.json>, "scaling": <scaling.json>}

The pages carry the figures between marker comments, which this module
rewrites:

- a block: a line ``<!-- bench:NAME -->``, the rendered Markdown, and a line
  ``<!-- /bench -->``; NAME is a key of :data:`BLOCKS`;
- a figure inside a sentence: ``<!-- fig:NAME -->0.88x<!-- /fig -->``; NAME is a
  key of :data:`FIGURES`.

Usage::

    python -m benchmarks.publish                          # render into the pages
    python -m benchmarks.publish --from benchmarks/results  # publish a fresh run first
    python -m benchmarks.publish --check                  # exit 1 if a page differs

``--from DIR`` copies ``latest.json``, ``http.json``, ``scaling.json`` and the
``propagation-*.json`` files from
DIR (what ``make bench`` writes to ``benchmarks/results``) into the published
file, whole, with the commit checked out. Prose outside the markers is not
touched: reread it after publishing a new run.
"""

from __future__ import annotations

import argparse
import decimal
import json
import re
import shutil
import subprocess
import sys
import textwrap
import typing as t
from pathlib import Path

from .http_load import table as http_table
from .peers import commands_table
from .peers import table as peers_table
from .scaling import LABELS
from .scaling import SIZE_VARIANTS as SCALING_VARIANTS

ROOT: t.Final = Path(__file__).resolve().parent.parent
PUBLISHED: t.Final = ROOT / "benchmarks" / "published.json"
#: The pages whose markers are rendered.
PAGES: t.Final = (ROOT / "README.md", ROOT / "benchmarks" / "README.md")
#: The published document's parts, by the file of ``benchmarks/results`` each comes from.
SOURCES: t.Final = {
    "peers": "latest.json",
    "http": "http.json",
    "scaling": "scaling.json",
    "propagation-none": "propagation-none.json",
    "propagation-restart": "propagation-restart.json",
    "propagation-failover": "propagation-failover.json",
}
#: The chart of the peers run, shown on the docs' benchmarks page.
CHART: t.Final = ROOT / "docs" / "images" / "benchmarks.png"

BLOCK: t.Final = re.compile(r"^<!-- bench:([a-z0-9-]+) -->\n(.*?)^<!-- /bench -->$", re.M | re.S)
FIGURE: t.Final = re.compile(r"<!-- fig:([A-Za-z0-9./-]+) -->(.*?)<!-- /fig -->")

Doc = dict[str, t.Any]

#: The order of the grouped rows of the targets table; other variants follow.
TARGET_ORDER: t.Final = ("jwt", "auto", "jwt-norev", "server")
_RATIO_TARGET: t.Final = re.compile(r"^(\S+) (read|write) <= ([\d.]+)x (\S+)$")
_TRIPS_TARGET: t.Final = re.compile(r"^(\S+) (read|write): round trips <= \d+$")
_UNTOUCHED_TARGET: t.Final = re.compile(r"^(\S+) read \(session untouched\)")
SIZES: t.Final = {"100": "100 B", "1000": "1 KB", "3000": "3 KB", "30000": "30 KB"}
#: The scaling table's variants, as benchmarks.scaling names them.
SIZE_VARIANTS: t.Final = {key: LABELS[key] for key in SCALING_VARIANTS}
DASH: t.Final = "\N{EN DASH}"
#: The state of the loopback round trip: a raw PING under this many µs is the fast one.
FAST_PING_US: t.Final = 60


# Looking things up in the published document.


def variant(doc: Doc, key: str) -> Doc:
    for row in doc["peers"]["variants"]:
        if row["key"] == key:
            return t.cast(Doc, row)
    raise KeyError(f"variant {key!r} is not in the published peers run")


def floor_row(doc: Doc, key: str) -> Doc:
    for row in doc["peers"]["redis_floor"]:
        if row["key"] == key:
            return t.cast(Doc, row["per_call"])
    raise KeyError(f"raw Redis row {key!r} is not in the published peers run")


def http_row(doc: Doc, workers: str, key: str) -> Doc:
    for row in doc["http"]["workers"][workers]["variants"]:
        if row["key"] == key:
            return t.cast(Doc, row)
    raise KeyError(f"variant {key!r} with {workers} workers is not in the published http run")


def ratio_target(doc: Doc, mine: str, route: str, base: str) -> float:
    """The value of the peers target ``mine route <= ...x base``: a median of paired ratios."""
    for entry in doc["peers"]["targets"]:
        found = _RATIO_TARGET.match(entry["target"])
        if found and found.group(1, 2, 4) == (mine, route, base):
            return float(entry["value"])
    raise KeyError(f"no target compares {mine} {route} with {base}")


def http_target(doc: Doc, phase: str, mine: str) -> Doc:
    for entry in doc["http"]["targets"]:
        if entry["target"].startswith(f"2 workers, {phase}: {mine} >="):
            return t.cast(Doc, entry)
    raise KeyError(f"no http target for {mine} {phase}")


def short(label: str) -> str:
    """``ours jwt, revocation off`` -> ``jwt, revocation off``."""
    return label.removeprefix("ours ")


def day(meta: Doc) -> str:
    return str(meta["date"])[:10]


def fixed(value: float, places: int = 2) -> str:
    """``value`` to ``places`` decimals, halves rounded up as a reader would: 0.835 -> 0.84."""
    step = decimal.Decimal(1).scaleb(-places)
    return str(decimal.Decimal(repr(value)).quantize(step, rounding=decimal.ROUND_HALF_UP))


def para(text: str) -> str:
    """A paragraph wrapped as the pages wrap theirs."""
    return textwrap.fill(text, width=96, break_long_words=False, break_on_hyphens=False)


def num(value: float) -> str:
    """Seconds and counts as the pages write them: 97, 15.6, 100,000."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


# Figures inside sentences.


def _ratio(key: str, route: str) -> t.Callable[[Doc], str]:
    return lambda doc: f"{fixed(variant(doc, key)[route]['ratio_to_A'])}x"


def _versus(mine: str, route: str, base: str) -> t.Callable[[Doc], str]:
    return lambda doc: f"{fixed(ratio_target(doc, mine, route, base))}x"


def _median(key: str, route: str) -> t.Callable[[Doc], str]:
    return lambda doc: f"{variant(doc, key)[route]['median_us']:.0f} µs"


def _view_cost(doc: Doc) -> str:
    """What revocation adds to a jwt read once the view holds the sid: jwt minus jwt-norev."""
    with_trip = variant(doc, "jwt")["read"]["median_us"]
    return f"{with_trip - variant(doc, 'jwt-norev')['read']['median_us']:.0f} µs"


def _larger_than_c(doc: Doc) -> str:
    ours, theirs = variant(doc, "jwt")["credential_bytes"], variant(doc, "C")["credential_bytes"]
    return f"{(ours / theirs - 1) * 100:.0f} %"


def _least_with_a_trip(doc: Doc) -> str:
    """A raw PING plus jwt without revocation, against A: the least a per-request trip costs."""
    ping = floor_row(doc, "redis-ping")["ratio_to_A_read"]
    return f"{fixed(ping + variant(doc, 'jwt-norev')['read']['ratio_to_A'])}x"


def _over_write_target(doc: Doc) -> str:
    """How far jwt without revocation writes above 0.9x A's write, in µs."""
    limit = 0.9 * variant(doc, "A")["write"]["median_us"]
    return f"{variant(doc, 'jwt-norev')['write']['median_us'] - limit:.0f} µs"


def _session_cost(doc: Doc) -> str:
    for entry in doc["peers"]["targets"]:
        if entry["target"].startswith("server read session cost"):
            return f"{entry['value']:.0f} µs"
    raise KeyError("no session-cost target in the published peers run")


def _gunicorn(mine: str, base: str, phase: str) -> t.Callable[[Doc], str]:
    def render(doc: Doc) -> str:
        ours, theirs = http_row(doc, "2", mine), http_row(doc, "2", base)
        return f"{fixed(ours[phase]['requests_per_s'] / theirs[phase]['requests_per_s'])}x"

    return render


#: ``<!-- fig:NAME -->``: one figure, rendered from the published document.
FIGURES: t.Final[dict[str, t.Callable[[Doc], str]]] = {
    "jwt-norev.read/A": _ratio("jwt-norev", "read"),
    "jwt-norev.write/A": _ratio("jwt-norev", "write"),
    "jwt.read/C": _versus("jwt", "read", "C"),
    "jwt.write/C": _versus("jwt", "write", "C"),
    "server.read/B": _versus("server", "read", "B"),
    "server.read/B2": _versus("server", "read", "B2"),
    "ping/A": lambda doc: f"{fixed(floor_row(doc, 'redis-ping')['ratio_to_A_read'])}x",
    "ping.us": lambda doc: f"{floor_row(doc, 'redis-ping')['median_us']:.0f} µs",
    "jwt.read.us": _median("jwt", "read"),
    "jwt-nocache.read.us": _median("jwt-nocache", "read"),
    "view.us": _view_cost,
    "jwt-over-C.bytes": _larger_than_c,
    "least-with-a-trip/A": _least_with_a_trip,
    "jwt-norev.write-over.us": _over_write_target,
    "server.session-cost.us": _session_cost,
    "http.jwt/B.reads": _gunicorn("jwt", "B", "reads"),
    "http.server/B.reads": _gunicorn("server", "B", "reads"),
    "floor.read.us": _median("0", "read"),
}


# Blocks.


def peers_run(doc: Doc) -> str:
    meta = doc["peers"]["meta"]
    versions = meta["versions"]
    parser = f" with hiredis {versions['hiredis']}" if meta.get("hiredis_parser") else ""
    return para(
        f"`make bench` at commit `{doc['commit']}`, on {day(meta)}, on the project's machine:"
        f" {meta['cpus']} CPUs ({meta['platform']}), Python {meta['python']}, redis-server"
        f" {meta['redis_server']}, redis-py {versions['redis']}{parser}. `benchmarks.peers`:"
        f" N={meta['requests_per_batch']}, {meta['repeats_done']} repeats, {num(meta['seconds'])} s"
        + (f"; {doc['conditions']}." if doc.get("conditions") else ".")
    )


def spread(doc: Doc) -> str:
    """Min to max over the repeats, for every row that records them."""
    peers = doc["peers"]
    parts = []
    for route in ("read", "write"):
        cells = [
            f"{row['key']} {row[route]['min_us']:.0f}{DASH}{row[route]['max_us']:.0f}"
            for row in peers["variants"]
            if "min_us" in row[route]
        ]
        if cells:
            parts.append(f"{route.capitalize()}: {', '.join(cells)}.")
    text = f"Spread over the {peers['meta']['repeats_done']} repeats (min to max, µs). " + " ".join(
        parts
    )
    ping = floor_row(doc, "redis-ping")
    if "min_us" in ping:
        if ping["min_us"] >= FAST_PING_US:
            state = "the whole run was in the slow state of the loopback round trip described above"
        elif ping["max_us"] < FAST_PING_US:
            state = "the whole run was in the fast state of the loopback round trip described above"
        else:
            state = "the run moved between the two states of the loopback round trip"
        text += (
            f" The raw `PING` took {ping['min_us']:.0f}{DASH}{ping['max_us']:.0f} µs over the"
            f" repeats: {state}."
        )
    return para(text)


def peers_results(doc: Doc) -> str:
    peers = doc["peers"]
    return peers_table(peers["variants"], peers["redis_floor"]) + "\n\n" + spread(doc)


def peers_commands(doc: Doc) -> str:
    meta = doc["peers"]["meta"]
    where = meta.get("redis_commands_from", f"`{meta['command']}`")
    head = (
        f"Redis commands per request, as Redis counted them (from {where}; counts do not"
        " depend on the size of the run):"
    )
    return para(head) + "\n\n" + commands_table(doc["peers"]["variants"])


def peers_targets(doc: Doc) -> str:
    """The targets of one peers run, a row per variant and route."""
    labels = {row["key"]: short(row["label"]) for row in doc["peers"]["variants"]}
    ratios: dict[tuple[str, str], list[Doc]] = {}
    trips: list[Doc] = []
    untouched: list[Doc] = []
    others: list[Doc] = []
    for entry in doc["peers"]["targets"]:
        found = _RATIO_TARGET.match(entry["target"])
        if found:
            ratios.setdefault((found.group(1), found.group(2)), []).append(
                {**entry, "base": found.group(4)}
            )
        elif _TRIPS_TARGET.match(entry["target"]):
            trips.append(entry)
        elif _UNTOUCHED_TARGET.match(entry["target"]):
            untouched.append(entry)
        else:
            others.append(entry)

    def order(item: tuple[tuple[str, str], list[Doc]]) -> tuple[int, int]:
        (mine, route), _ = item
        rank = TARGET_ORDER.index(mine) if mine in TARGET_ORDER else len(TARGET_ORDER)
        return rank, route == "write"

    def verdict(entries: list[Doc]) -> str:
        return "met" if all(entry["met"] for entry in entries) else "missed"

    lines = ["| target | value | limit | |", "|---|--:|--:|---|"]
    for (mine, route), entries in sorted(ratios.items(), key=order):
        values = ", ".join(f"{fixed(e['value'], 3)}x {e['base']}" for e in entries)
        limits = ", ".join(f"{e['limit']:.1f}" for e in entries)
        label = f"{labels.get(mine, mine)}, {route}"
        lines.append(f"| {label} | {values} | {limits} | {verdict(entries)} |")
    if trips:
        missed = [e["target"] for e in trips if not e["met"]]
        value = "as in the table, every mode" if not missed else "; ".join(missed)
        lines.append(
            "| round trips: jwt and auto 0 once the view holds the sid (1 before),"
            " server read 1 and write 2, jwt without revocation 0"
            f" | {value} | | {verdict(trips)} |"
        )
    if untouched:
        worst = max(e["value"] for e in untouched)
        lines.append(
            "| no data write for an untouched session (the read route)"
            f" | {worst:g} data-changing commands, every mode | 0 | {verdict(untouched)} |"
        )
    for entry in others:
        if entry["target"].startswith("server read session cost"):
            lines.append(
                "| server read's session cost (over 0) minus a raw GET"
                f" | {entry['value']:.0f} µs | {entry['limit']:g} | {verdict([entry])} |"
            )
        else:
            value, limit = f"{entry['value']:g}", f"{entry['limit']:g}"
            lines.append(f"| {entry['target']} | {value} | {limit} | {verdict([entry])} |")
    return "\n".join(lines)


def http_results(doc: Doc) -> str:
    http = doc["http"]
    meta, plan = http["meta"], http["meta"]["plan"]
    head = (
        f"The same `make bench` run ({plan['reads']} reads and {plan['mixed']} mixed requests per"
        f" variant and repeat, {plan['repeats']} repeats, {plan['threads']} client threads,"
        f" {num(meta['seconds'])} s):"
    )
    goals = []
    for mine, base in (("jwt", "A"), ("server", "B")):
        entries = [http_target(doc, phase, mine) for phase in ("reads", "mixed")]
        met = "met" if all(e["met"] for e in entries) else "missed"
        goals.append(
            f"ours {mine} at least {entries[0]['limit']:.1f}x {base}:"
            f" {fixed(entries[0]['value'])} on reads, {fixed(entries[1]['value'])} on mixed, {met}"
        )
    goal = para(f"Targets (2 workers): {'; '.join(goals)}.")
    return f"{para(head)}\n\n{http_table(http['workers'])}\n\n{goal}"


def scaling_sizes(doc: Doc) -> str:
    scaling = doc["scaling"]
    sizes, cells = scaling["session_size"], scaling["session_size"]["cells"]
    head = (
        f"The same `make bench` run (N={sizes['n']}, {sizes['repeats_done']} repeats;"
        f" {num(scaling['meta']['seconds'])} s in all)."
    )
    lines = [
        "| variant | " + " | ".join(SIZES.values()) + " |",
        "|---|" + "--:|" * len(SIZES),
    ]
    for key, label in SIZE_VARIANTS.items():
        row = []
        for size in SIZES:
            info = cells[f"{key}@{size}"]
            if info["status"] != "measured":
                row.append(info["status"])
                continue
            read, write = info["read"], info["write"]
            text = f"{read['median_us']:.0f} / {write['median_us']:.0f}"
            if key != "A" and read.get("ratio_to_A") and write.get("ratio_to_A"):
                text += f" ({fixed(read['ratio_to_A'])}x / {fixed(write['ratio_to_A'])}x A)"
            row.append(text)
        lines.append(f"| {label} | {' | '.join(row)} |")
    credentials = [
        "| credential bytes | " + " | ".join(SIZES.values()) + " |",
        "|---|" + "--:|" * len(SIZES),
    ]
    for key, label in SIZE_VARIANTS.items():
        found = [cells[f"{key}@{size}"].get("credential_bytes") for size in SIZES]
        if any(found):
            credentials.append(
                f"| {label} | " + " | ".join("-" if b is None else str(b) for b in found) + " |"
            )
    text = "\n\n".join(
        [
            para(head),
            "Per request as the session grows (µs, read / write):",
            "\n".join(lines),
            "\n".join(credentials),
        ]
    )
    largest = cells[f"server@{list(SIZES)[-1]}"]
    if largest["status"] == "measured" and largest["read"].get("ratio_to_B"):
        text += (
            f"\n\nAt {list(SIZES.values())[-1]} ours server reads in"
            f" {fixed(largest['read']['ratio_to_B'])}x B's time."
        )
    return text


def scaling_memory(doc: Doc) -> str:
    scaling = doc["scaling"]
    plan = scaling["meta"]["plan"]
    lines = [
        para(
            f"Redis memory ({num(plan['real'])} created through the package, replayed to"
            f" {num(plan['total'])}; `used_memory` growth per item):"
        ),
        "",
        f"| what | keys each | bytes each at {num(plan['total'])} | `MEMORY USAGE` of its keys |",
        "|---|--:|--:|--:|",
    ]
    for entry in scaling["memory"]:
        each = f"{entry['used_memory_per_item']:.0f}" if entry.get("replayed") else entry["note"]
        lines.append(
            f"| {entry['kind']} | {entry['keys_per_item']:g} | {each}"
            f" | {entry['memory_usage_per_item']:.0f} |"
        )
    return "\n".join(lines)


def scaling_users(doc: Doc) -> str:
    scaling = doc["scaling"]
    found = {entry["mode"]: entry for entry in scaling["user_operations"]}
    jwt, server = found["jwt"], found["server"]
    runs = scaling["meta"]["plan"]["runs"]
    return para(
        f"One user with {num(jwt['sessions'])} sessions (median of {runs}):"
        f" `sessions_for` {jwt['sessions_for_ms']:.1f} ms in jwt mode and"
        f" {server['sessions_for_ms']:.1f} ms in server mode; `revoke_user`"
        f" {jwt['revoke_user_ms']:.1f} ms and {server['revoke_user_ms']:.1f} ms."
    )


#: The propagation runs, by the ``--disrupt`` each was run with.
DISRUPTIONS: t.Final = {
    "none": "nothing",
    "restart": "Redis restarted halfway",
    "failover": "Sentinel failover halfway",
}


def propagation_results(doc: Doc) -> str:
    """The revocation view's window: one row per ``benchmarks.propagation`` run."""
    rows = [
        "| disruption | revocations | p50 ms | p99 ms | max ms | failed, then retried"
        " | revoked tokens accepted after |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in DISRUPTIONS.items():
        run = doc.get(f"propagation-{key}")
        if run is None:
            rows.append(f"| {label} | not run | | | | | |")
            continue
        accepted = run["revoked_tokens_accepted_at_the_end"] + run["still_accepted_after_the_watch"]
        rows.append(
            f"| {label} | {run['revocations']} | {fixed(run['p50_ms'], 1)}"
            f" | {fixed(run['p99_ms'], 1)} | {fixed(run['max_ms'], 1)}"
            f" | {run['failed_then_retried']} | {accepted} |"
        )
    runs = [doc[f"propagation-{k}"] for k in DISRUPTIONS if f"propagation-{k}" in doc]
    met = all(run["p99_ms"] <= run.get("p99_target_ms", 50.0) for run in runs)
    goal = para(
        f"Target: p99 at most 50 ms with {runs[0]['workers'] if runs else 4} processes,"
        f" {'met' if runs and met else 'missed'}."
    )
    return "\n".join(rows) + "\n\n" + goal


def readme_speed(doc: Doc) -> str:
    """The README's speed table: time per request as a multiple of Flask's cookie session."""
    meta = doc["peers"]["meta"]

    def ratios(route: str, *keys: str) -> str:
        return ", ".join(fixed(variant(doc, k)[route]["ratio_to_A"]) for k in keys)

    def ours(route: str) -> str:
        names = ("stateless", "jwt", "server")
        values = ratios(route, "jwt-norev", "jwt", "server").split(", ")
        return ", ".join(f"{v} {n}" for v, n in zip(values, names, strict=True))

    def http(key: str) -> str:
        return fixed(http_row(doc, "2", key)["reads"]["ratio_to_A"])

    a_read, a_write = variant(doc, "A")["read"], variant(doc, "A")["write"]
    a_http = http_row(doc, "2", "A")["reads"]["requests_per_s"]
    rows = [
        "| measured | flask-hybridsession | Flask-Session | Flask-JWT-Extended"
        " | Flask's cookie session |",
        "|---|---|---|---|---|",
        f"| time per read, x Flask's cookie | {ours('read')} | {ratios('read', 'B')}"
        f" ({ratios('read', 'B2')} without refresh) | {ratios('read', 'C')}"
        f" | 1.00 ({a_read['median_us']:.0f} µs) |",
        f"| time per write, x Flask's cookie | {ours('write')} | {ratios('write', 'B')}"
        f" ({ratios('write', 'B2')} without refresh) | {ratios('write', 'C')}"
        f" | 1.00 ({a_write['median_us']:.0f} µs) |",
        f"| reads/s, gunicorn 2 workers, x Flask's cookie | {http('jwt')} jwt, {http('server')}"
        f" server | {http('B')} | not measured | 1.00 ({a_http:.0f}/s) |",
    ]
    ping = fixed(floor_row(doc, "redis-ping")["ratio_to_A_read"])
    jwt_c = [fixed(ratio_target(doc, "jwt", route, "C")) for route in ("read", "write")]
    server_b, server_b2, server_write = (
        fixed(ratio_target(doc, "server", "read", "B")),
        fixed(ratio_target(doc, "server", "read", "B2")),
        fixed(ratio_target(doc, "server", "write", "B")),
    )
    notes = [
        "- jwt mode with revocation keeps the data in the token, as Flask-JWT-Extended does, and"
        " answers a token the process has already checked from its revocation view, which Redis"
        f" keeps current: {jwt_c[0]}x Flask-JWT-Extended's time per read and {jwt_c[1]}x per"
        " write (it asks its Redis blocklist on every request), with the data encrypted.",
        f"- server mode reads in {server_b}x Flask-Session's time ({server_b2}x without its"
        f" refresh) and writes in {server_write}x, every value encrypted at rest.",
        f"- A raw Redis round trip costs {ping}x a cookie-session read on that machine"
        f" ({meta['cpus']} CPUs, {day(meta)}, commit `{doc['commit']}`): server mode pays it on"
        " every request; jwt and auto on a session's first request in a process, and once a"
        " minute after.",
    ]
    legend = (
        "Time per request as a multiple of Flask's cookie session (lower is faster; requests/s:"
        " higher is faster). stateless: jwt mode without Redis (`HYBRID_SESSION_REVOCATION ="
        " False`); Flask-Session with its defaults; Flask-JWT-Extended with a Redis blocklist."
    )
    bullets = [textwrap.indent(para(note), "  ")[2:] for note in notes]
    return "\n".join(rows) + "\n\n" + para(legend) + "\n\n" + "\n".join(bullets)


#: ``<!-- bench:NAME -->``: a block of Markdown, rendered from the published document.
BLOCKS: t.Final[dict[str, t.Callable[[Doc], str]]] = {
    "peers-run": peers_run,
    "peers-results": peers_results,
    "peers-commands": peers_commands,
    "peers-targets": peers_targets,
    "http-results": http_results,
    "scaling-sizes": scaling_sizes,
    "scaling-memory": scaling_memory,
    "scaling-users": scaling_users,
    "propagation-results": propagation_results,
    "readme-speed": readme_speed,
}


# Rendering the pages.


def load(path: Path = PUBLISHED) -> Doc:
    return t.cast(Doc, json.loads(path.read_text()))


def render(text: str, doc: Doc) -> str:
    """``text`` with every block and figure marker filled from ``doc``."""

    def block(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in BLOCKS:
            raise KeyError(f"unknown block <!-- bench:{name} -->; known: {', '.join(BLOCKS)}")
        return f"<!-- bench:{name} -->\n\n{BLOCKS[name](doc)}\n\n<!-- /bench -->"

    def figure(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in FIGURES:
            raise KeyError(f"unknown figure <!-- fig:{name} -->; known: {', '.join(FIGURES)}")
        return f"<!-- fig:{name} -->{FIGURES[name](doc)}<!-- /fig -->"

    return FIGURE.sub(figure, BLOCK.sub(block, text))


def markers(text: str) -> list[str]:
    """The names of the blocks and figures in ``text``, in order."""
    return [f"bench:{m.group(1)}" for m in BLOCK.finditer(text)] + [
        f"fig:{m.group(1)}" for m in FIGURE.finditer(text)
    ]


def differences(text: str, doc: Doc) -> list[str]:
    """The markers of ``text`` whose content differs from what ``doc`` renders."""
    rendered = render(text, doc)
    found = []
    for pattern in (BLOCK, FIGURE):
        mine, theirs = list(pattern.finditer(text)), list(pattern.finditer(rendered))
        for old, new in zip(mine, theirs, strict=True):
            if old.group(0) != new.group(0):
                found.append(f"{'bench' if pattern is BLOCK else 'fig'}:{old.group(1)}")
    return found


def publish_from(folder: Path, doc: Doc) -> Doc:
    """``doc`` with the parts that ``folder`` holds a fresh run of, and the current commit."""
    fresh = dict(doc)
    fresh.pop("conditions", None)  # said of the run being replaced
    copied = []
    for part, name in SOURCES.items():
        path = folder / name
        if path.is_file():
            fresh[part] = json.loads(path.read_text())
            copied.append(name)
    if not copied:
        raise FileNotFoundError(f"none of {', '.join(SOURCES.values())} is in {folder}")
    missing = [name for name in SOURCES.values() if name not in copied]
    if missing:
        print(f"kept the published {', '.join(missing)}: not in {folder}", file=sys.stderr)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git, on this checkout
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    fresh["commit"] = commit or doc.get("commit", "-")
    chart = folder / "latest.png"
    if "latest.json" in copied and chart.is_file():
        shutil.copyfile(chart, CHART)
        print(f"copied {chart} to {CHART.relative_to(ROOT)}", file=sys.stderr)
    return fresh


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.publish", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="publish the run in this folder first (latest.json, http.json, scaling.json,"
        " propagation-*.json)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="render nothing; exit 1 if a page differs from what the published JSON renders",
    )
    args = parser.parse_args(argv)
    if args.check and args.source:
        parser.error("--check compares with the published JSON; drop --from")
    doc = load()
    if args.source:
        doc = publish_from(args.source, doc)
        PUBLISHED.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {PUBLISHED.relative_to(ROOT)} from {args.source}")
    stale = []
    for page in PAGES:
        text = page.read_text()
        if args.check:
            stale += [f"{page.relative_to(ROOT)}: {name}" for name in differences(text, doc)]
            continue
        rendered = render(text, doc)
        if rendered != text:
            page.write_text(rendered)
            print(f"rendered {page.relative_to(ROOT)}")
    if stale:
        sys.exit(
            "These figures differ from benchmarks/published.json"
            " (run python -m benchmarks.publish):\n  " + "\n  ".join(stale)
        )


if __name__ == "__main__":
    main()
