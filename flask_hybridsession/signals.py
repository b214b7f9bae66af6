"""Blinker signals sent by the extension.

Each is sent with the app as sender and ``sid=`` (and ``user_id=`` where
known). Connect module-level functions, or pass ``weak=False``: blinker drops
a closure as soon as it goes out of scope.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A new session was saved for the first time.
session_created = _signals.signal("session-created")
#: Login or ``regenerate()`` gave the session a new sid (``old_sid=``).
session_rotated = _signals.signal("session-rotated")
#: A session was ended by logout or revocation.
session_revoked = _signals.signal("session-revoked")
