"""Demo users with hashed passwords, for Flask-Login."""

from __future__ import annotations

from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

#: username -> (display name, password). Printed by `make demo`.
DEMO_USERS: dict[str, tuple[str, str]] = {
    "alice": ("Alice", "wonderland"),
    "bob": ("Bob", "builder"),
}

_HASHES = {
    name: generate_password_hash(password, method="pbkdf2:sha256:50000")
    for name, (_, password) in DEMO_USERS.items()
}


class User:
    """A Flask-Login user."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, username: str) -> None:
        self.id = username
        self.name = DEMO_USERS[username][0]

    def get_id(self) -> str:
        return self.id


def load_user(username: str) -> User | None:
    return User(username) if username in DEMO_USERS else None


def authenticate(username: str, password: str) -> User | None:
    """The user when the password matches (constant time per hash)."""
    stored = _HASHES.get(username)
    if stored is None or not check_password_hash(stored, password):
        return None
    return User(username)
