"""``python -m example_app``: serve the shop on http://127.0.0.1:5000."""

from __future__ import annotations

import logging
import os
import signal
import sys

from example_app import create_app
from example_app.accounts import DEMO_USERS


def main() -> None:
    # SIGTERM exits like Ctrl+C, so the embedded Redis is shut down too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = create_app()
    mode = app.config["HYBRID_SESSION_MODE"]
    where = "the Redis at HYBRID_SESSION_REDIS_URL"
    if not app.config.get("HYBRID_SESSION_REDIS_URL"):
        where = "an embedded Redis (no HYBRID_SESSION_REDIS_URL set)"
    port = int(os.environ.get("PORT", "5000"))
    print(f"flask-hybridsession shop: mode {mode!r}, Redis: {where}")
    print("Demo users: " + ", ".join(f"{u} / {p}" for u, (_, p) in DEMO_USERS.items()))
    print("Switch with HYBRID_SESSION_MODE=jwt|server|auto make demo: nobody is logged out.")
    print(f"Serving on http://127.0.0.1:{port} (Ctrl+C stops)")
    app.run(host="127.0.0.1", port=port, debug=False)


if __name__ == "__main__":
    main()
