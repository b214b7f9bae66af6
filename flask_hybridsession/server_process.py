"""A ``redis-server`` child process: tied to its parent's life, probed, stopped.

What :mod:`.embedded` needs of an operating-system process, and nothing of
Redis's protocol beyond ``PING``. A leaf: it imports nothing of the package.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import typing as t

#: Linux's prctl(PR_SET_PDEATHSIG, ...).
_PR_SET_PDEATHSIG: t.Final = 1
#: How long (s) a server may take to save and exit after SIGTERM.
STOP_TIMEOUT: t.Final = 10.0


def die_with_parent_hook() -> t.Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        # Runs in the child, between fork and exec: nothing but a system call.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took hold
            os._exit(1)

    return hook


def answers(path: str, *, timeout: float = 1.0, loading: bool = False) -> bool:
    """Whether a Redis on unix socket ``path`` answers PING.

    :param loading: a server still loading its database counts as answering.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(b"+PONG") or (loading and reply.startswith(b"-LOADING"))


#: Whether /proc tells what a process is (Linux); elsewhere, only whether it exists.
PROC: t.Final = os.path.isdir("/proc/self")


def is_redis(pid: int) -> bool:
    """Whether ``pid`` is a running redis-server (not a zombie, not a reused pid)."""
    if not PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return state != [b"Z"] and b"redis-server" in cmdline.read()
    except OSError:
        return False


def terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def tail(log: t.IO[bytes], lines: int = 3) -> str:
    log.seek(0)
    found = log.read().decode(errors="replace").strip().splitlines()[-lines:]
    return " | ".join(line.strip() for line in found) or "(nothing)"
