"""flask-hybridsession: one flask.session as encrypted JWTs, Redis sessions, or both."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version

from .errors import ConfigurationError as ConfigurationError
from .errors import HybridSessionError as HybridSessionError
from .errors import SessionTooLarge as SessionTooLarge
from .errors import StoreUnavailable as StoreUnavailable
from .extension import HybridSession as HybridSession

try:
    __version__ = version("flask-hybridsession")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = [
    "ConfigurationError",
    "HybridSession",
    "HybridSessionError",
    "SessionTooLarge",
    "StoreUnavailable",
    "__version__",
]
