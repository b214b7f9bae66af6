"""``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, checked at ``init_app``."""

from __future__ import annotations

import typing as t

from .config import MIN_SECRET_BYTES
from .errors import ConfigurationError

if t.TYPE_CHECKING:
    from flask import Flask


def _secret_length(secret: str | bytes) -> int:
    return len(secret.encode() if isinstance(secret, str) else secret)


def check_secret(app: Flask) -> None:
    """Refuse a short ``SECRET_KEY`` outside debug and testing.

    :raises ConfigurationError: the secret is shorter than 32 bytes.
    """
    for key in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        values = app.config.get(key)
        if not values:
            continue
        if key == "SECRET_KEY_FALLBACKS" and isinstance(values, str | bytes):
            raise ConfigurationError(
                key, "must be a list of old secrets, e.g. [old_secret], not a single str."
            )
        for secret in values if key == "SECRET_KEY_FALLBACKS" else [values]:
            if not isinstance(secret, str | bytes):
                raise ConfigurationError(key, "must be str or bytes.")
            if _secret_length(secret) < MIN_SECRET_BYTES and not (app.debug or app.testing):
                raise ConfigurationError(
                    key,
                    f"is {_secret_length(secret)} bytes; use at least {MIN_SECRET_BYTES}"
                    " random bytes, e.g. secrets.token_hex(32).",
                )
