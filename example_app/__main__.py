"""``python -m example_app``: serve the demo on http://127.0.0.1:5000."""

from __future__ import annotations

import logging
import os
import signal
import sys

from example_app import create_app


def main() -> None:
    # SIGTERM exits like Ctrl+C, so the embedded Redis is shut down too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = create_app()
    mode = app.config["HYBRID_SESSION_MODE"]
    redis = "embedded Redis" if not app.config.get("HYBRID_SESSION_REDIS_URL") else "Redis"
    print(f"flask-hybridsession demo: mode {mode!r} on {redis}")
    port = int(os.environ.get("PORT", "5000"))
    print(f"Serving on http://127.0.0.1:{port} (Ctrl+C stops)")
    app.run(host="127.0.0.1", port=port, debug=False)


if __name__ == "__main__":
    main()
