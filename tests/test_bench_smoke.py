"""The benchmarks still run: each module in its ``--smoke`` form, as a subprocess.

These time nothing: they prove that ``make bench`` works and writes what the
docs read. A module whose peers are not installed is skipped, unless
``HYBRID_SESSION_REQUIRE_BENCH=1`` is set (CI), which turns the skip into a
failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

ROOT: t.Final = Path(__file__).resolve().parent.parent
REQUIRE: t.Final = os.environ.get("HYBRID_SESSION_REQUIRE_BENCH") == "1"


def need(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (the 'bench' or 'dev' extra)"
    if REQUIRE:
        pytest.fail(f"HYBRID_SESSION_REQUIRE_BENCH=1 but {message}")
    pytest.skip(f"{message}; set HYBRID_SESSION_REQUIRE_BENCH=1 to fail instead")


def run_smoke(module: str, out: Path, timeout: float) -> str:
    """``python -m benchmarks.<module> --smoke --out <out>``; its stdout on failure.

    On a timeout the module gets SIGTERM first, so it stops the servers it
    started, and SIGKILL only if it does not exit.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{module}", "--smoke", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"benchmarks.{module} --smoke took over {timeout} s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    return output


def load(path: Path) -> dict[str, t.Any]:
    assert path.is_file(), f"{path} was not written"
    return t.cast(dict[str, t.Any], json.loads(path.read_text()))


def test_peers_smoke(tmp_path: Path) -> None:
    need("flask_session", "flask_jwt_extended")
    run_smoke("peers", tmp_path, timeout=90)
    result = load(tmp_path / "latest.json")
    keys = {row["key"] for row in result["variants"]}
    assert {"0", "A", "B", "B2", "C", "jwt", "jwt-norev", "server", "auto"} <= keys
    for row in result["variants"]:
        for route in ("read", "write"):
            assert row[route]["median_us"] > 0
            assert len(row[route]["samples_us"]) == 1
    floor = {row["key"]: row for row in result["redis_floor"]}
    assert set(floor) == {"redis-ping", "redis-get"}
    for row in floor.values():
        assert row["per_call"]["median_us"] > 0
        assert row["per_call"]["round_trips"] == 1
    targets = {entry["target"] for entry in result["targets"]}
    assert any(target.startswith("server read session cost") for target in targets)
    assert result["meta"]["repeats_done"] == 1
    # Redis's own command counts: B refreshes on every read, we write nothing on one.
    rows = {row["key"]: row for row in result["variants"]}
    assert rows["B"]["read"]["redis_commands"].get("set") == 1
    assert rows["B2"]["read"]["redis_commands"] == {"get": 1}
    assert rows["server"]["read"]["redis_commands"].get("evalsha") == 1
    assert rows["server"]["read"]["write_scripts"] == 0
    assert rows["server"]["read"]["data_writes"] == 0
    assert rows["B"]["read"]["data_writes"] == 1  # the positive control: B's refresh SET
    assert "redis_commands" not in rows["A"]["read"] or not rows["A"]["read"]["redis_commands"]
    untouched = [e for e in result["targets"] if "session untouched" in e["target"]]
    assert {e["target"].split()[0] for e in untouched} >= {"jwt", "server", "auto"}
    assert all(e["met"] for e in untouched)


def test_http_load_smoke(tmp_path: Path) -> None:
    need("gunicorn", "flask_session")
    run_smoke("http_load", tmp_path, timeout=120)
    result = load(tmp_path / "http.json")
    assert set(result["workers"]) == {"1", "2"}
    for entry in result["workers"].values():
        rows = {row["key"]: row for row in entry["variants"]}
        assert set(rows) == {"A", "B", "jwt", "server"}
        for row in rows.values():
            for phase in ("reads", "mixed"):
                assert row[phase]["requests_per_s"] > 0
                assert row[phase]["ratio_to_A"] > 0
    assert len(result["targets"]) == 4
    assert (tmp_path / "http.md").is_file()


def test_scaling_smoke(tmp_path: Path) -> None:
    need("flask_session", "flask_login")
    run_smoke("scaling", tmp_path, timeout=120)
    result = load(tmp_path / "scaling.json")
    cells = result["session_size"]["cells"]
    for key in ("A", "B", "jwt", "server", "auto"):
        for size in (100, 1000, 3000, 30000):
            assert f"{key}@{size}" in cells
    # Neither a cookie nor our jwt holds 30 KB; the Redis-backed ones do.
    assert cells["A@30000"]["status"].startswith("n/a")
    assert cells["jwt@30000"]["status"].startswith("n/a")
    for key in ("B", "server", "auto"):
        assert cells[f"{key}@30000"]["status"] == "measured"
        assert cells[f"{key}@30000"]["read"]["median_us"] > 0
    kinds = [entry["kind"] for entry in result["memory"]]
    assert len(kinds) == 6
    assert any(kind.startswith("revocation mark") for kind in kinds)
    peers = [entry for entry in result["memory"] if entry["kind"].startswith("B Flask-Session")]
    assert len(peers) == 2
    for entry in result["memory"]:
        assert entry["memory_usage_per_item"] > 0
        if entry in peers:
            assert entry["count"] == result["meta"]["plan"]["total"]
            assert entry["used_memory_per_item"] > 0
        else:
            assert entry["replay_check"]["missing"] == 0
    users = {entry["mode"]: entry for entry in result["user_operations"]}
    assert set(users) == {"jwt", "server"}
    for entry in users.values():
        assert entry["sessions_for_ms"] > 0
        assert entry["revoke_user_ms"] > 0


def test_profile_runs() -> None:
    need("flask_session", "flask_jwt_extended")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile", "-n", "20", "--variants", "A,jwt,server"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| bucket | A read | A write | jwt read | jwt write | server read | server write |" in (
        done.stdout
    )
    wait = next(line for line in done.stdout.splitlines() if line.startswith("| socket wait"))
    cells = [cell.strip() for cell in wait.strip("|").split("|")][1:]
    # A never touches Redis; server mode waits on it in every request.
    assert cells[0].startswith("0 µs") and not cells[4].startswith("0 µs")
