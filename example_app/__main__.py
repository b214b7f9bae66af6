"""``python -m example_app`` (what ``make demo`` runs): serve the shop on http://127.0.0.1:5000.

``PORT`` picks another port. The port is checked before anything starts, so a
busy one costs one line and no embedded Redis.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import types

DEFAULT_PORT = 5000
HOST = "127.0.0.1"

EPILOG = """\
environment:
  PORT                      the port to serve on (default 5000)
  HYBRID_SESSION_MODE       jwt (default), server or auto; switching logs nobody out
  HYBRID_SESSION_REDIS_URL  the Redis to use; unset, an embedded Redis starts on first use
  SECRET_KEY                the app's secret; unset, one is kept in ./instance/secret_key
"""


def _port(text: str) -> int | None:
    port = int(text) if text.isascii() and text.isdigit() else 0
    return port if 1 <= port <= 65535 else None


def _free(port: int) -> bool:
    """Whether the dev server could listen on ``port`` (it sets SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _next_free(port: int) -> int:
    """A port after ``port`` that is free now, to suggest."""
    for candidate in range(port + 1, min(port + 20, 65535) + 1):
        if _free(candidate):
            return candidate
    return port + 1 if port < 65535 else DEFAULT_PORT


def _stop(signum: int, frame: types.FrameType | None) -> None:
    # SIGTERM stops the server like Ctrl+C; a second one ends the process at
    # once (the embedded Redis follows it: it never outlives the app).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m example_app",
        description="Serve the flask-hybridsession example shop on http://127.0.0.1:PORT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    text = os.environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    port = _port(text)
    if port is None:
        print(f"PORT must be a port number from 1 to 65535, not {text!r}.", file=sys.stderr)
        return 2
    try:
        free = _free(port)
    except OSError as exc:
        print(f"Cannot listen on port {port}: {exc.strerror}.", file=sys.stderr)
        return 1
    if not free:
        print(f"Port {port} is in use; try PORT={_next_free(port)} make demo", file=sys.stderr)
        return 1

    from example_app import create_app
    from example_app.accounts import DEMO_USERS
    from flask_hybridsession import ConfigurationError

    signal.signal(signal.SIGTERM, _stop)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        app = create_app()
    except ConfigurationError as exc:  # its message names the setting and the fix
        print(exc, file=sys.stderr)
        return 2
    mode = app.config["HYBRID_SESSION_MODE"]
    where = "the Redis at HYBRID_SESSION_REDIS_URL"
    if not app.config.get("HYBRID_SESSION_REDIS_URL"):
        where = "an embedded Redis, started on first use (no HYBRID_SESSION_REDIS_URL set)"
    print(f"flask-hybridsession shop: mode {mode!r}, Redis: {where}")
    print("Demo users: " + ", ".join(f"{u} / {p}" for u, (_, p) in DEMO_USERS.items()))
    print("Switch with HYBRID_SESSION_MODE=jwt|server|auto make demo: nobody is logged out.")
    print(f"Serving on http://{HOST}:{port} (PORT={port}; Ctrl+C stops)")
    try:
        app.run(host=HOST, port=port, debug=False)
    except KeyboardInterrupt:
        pass
    finally:
        # Stopping now: another signal ends the process at once rather than
        # interrupting the clean-up with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
