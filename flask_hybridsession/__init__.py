"""flask-hybridsession: one flask.session as encrypted JWTs, Redis sessions, or both.

This module only re-exports. How the package is built (each module, its one job
and what it may import) is docs/modules.md, which tests/test_layout.py enforces:
``engine`` is the Flask-free core, ``interface`` the Flask session interface over
it, ``extension`` the ``HybridSession`` an app creates, ``stores/`` the three modes.
"""

from __future__ import annotations

from .admin import SessionInfo as SessionInfo
from .errors import ConfigurationError as ConfigurationError
from .errors import HybridSessionError as HybridSessionError
from .errors import SessionTooLarge as SessionTooLarge
from .errors import StoreUnavailable as StoreUnavailable
from .extension import HybridSession as HybridSession
from .session import HybridSessionData as HybridSessionData

#: The package's version, the one place it is written: pyproject.toml reads it
#: from here (``[tool.setuptools.dynamic]``).
__version__ = "0.1.0.dev0"

__all__ = [
    "ConfigurationError",
    "HybridSession",
    "HybridSessionData",
    "HybridSessionError",
    "SessionInfo",
    "SessionTooLarge",
    "StoreUnavailable",
    "__version__",
]
