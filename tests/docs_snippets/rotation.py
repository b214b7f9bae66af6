"""docs/key-rotation.md: explicit encryption keys, and asymmetric signing keys."""

from flask import Flask


def encryption_keys(app: Flask) -> None:
    # [encryption-keys]
    import base64
    import os

    app.config["HYBRID_SESSION_ENCRYPTION_KEYS"] = [
        base64.b64decode(os.environ["SESSION_KEY"]),  # the first one encrypts
        base64.b64decode(os.environ["OLD_SESSION_KEY"]),  # the others still decrypt
    ]
    # [end encryption-keys]


def asymmetric_keys(app: Flask) -> None:
    # [asymmetric]
    from pathlib import Path

    keys = Path(app.instance_path, "keys")
    app.config["HYBRID_SESSION_JWT_ALGORITHM"] = "EdDSA"
    app.config["HYBRID_SESSION_JWT_PRIVATE_KEY"] = (keys / "2026-12.pem").read_bytes()
    # Public keys that still verify tokens signed before the rotation.
    app.config["HYBRID_SESSION_JWT_PUBLIC_KEYS"] = [(keys / "2026-06.pub.pem").read_bytes()]
    # [end asymmetric]
