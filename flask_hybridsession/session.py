"""The session object: a dict that knows its id, its origin and what changed."""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t

from flask.sessions import NullSession
from flask.sessions import SessionMixin
from werkzeug.datastructures import CallbackDict

from .tokens import b64encode

#: Where a session lives: in its token (``"jwt"``) or in Redis (``"server"``).
#: One type for every place that says so: the state's ``origin`` and
#: ``credential_kind``, :attr:`HybridSessionData.storage`, ``SessionInfo.mode``.
Location = t.Literal["jwt", "server"]
Transport = t.Literal["cookie", "header"]


#: What every sid looks like: 16 bytes in unpadded base64url, so 22
#: characters of ``A-Z a-z 0-9 - _`` whose last one carries 2 bits only. A sid
#: may begin with ``-``.
SID_FORMAT: t.Final = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")


def new_sid() -> str:
    """A fresh session id: 128 random bits, base64url, 22 characters (:data:`SID_FORMAT`)."""
    return b64encode(os.urandom(16))


@dataclasses.dataclass(slots=True)
class Presented:
    """The credential the request brought, as the interface and the loader read it."""

    #: Where the response credential goes.
    transport: Transport = "cookie"
    #: The credential itself (kept in memory to re-send it as is).
    value: str | None = dataclasses.field(default=None, repr=False)
    #: How it was encoded: a JWT, a server token, or none.
    kind: Location | None = None
    #: ``jti``, ``iat`` and ``exp`` of a JWT.
    jti: str | None = None
    issued_at: int = 0
    expires_at: int = 0
    #: The secrets and the context the interface opened the session with,
    #: reused at save (one context per request).
    opened_with: tuple[tuple[bytes, ...], t.Any] | None = dataclasses.field(
        default=None, repr=False
    )


@dataclasses.dataclass(slots=True)
class Stored:
    """The session as it was stored, as the loader found it and the store rewrites it."""

    #: Where the loaded data came from: the JWT itself or a Redis hash.
    origin: Location | None = None
    #: Start of the absolute clock, Unix seconds.
    created: int = 0
    #: The Redis hash's token hash (``t``) when the data came from Redis.
    token_hash: bytes | None = dataclasses.field(default=None, repr=False)
    #: Salt of the field-name HMACs of a server-side session.
    salt: bytes | None = dataclasses.field(default=None, repr=False)
    #: Serialised value of each key as loaded, to find what changed.
    loaded: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    #: Keys whose stored value was sealed under a retired key.
    stale: set[str] = dataclasses.field(default_factory=set)
    #: Whether a retired key sealed or signed anything loaded.
    rekey: bool = False
    #: The epoch of its revocation record the session's token carries.
    epoch: int | None = None
    #: Kept in Redis whatever its size (``pin()``, auto mode).
    pinned: bool = False
    #: The stored metadata changed (``pin()``): rewrite it at save.
    meta_changed: bool = False


@dataclasses.dataclass(slots=True)
class Due:
    """What the save must do beyond writing the data: asked for during the request."""

    #: Keys set or deleted during this request.
    changed: set[str] = dataclasses.field(default_factory=set)
    #: A new sid (login, logout, ``regenerate()``), and the sid it replaced.
    rotate: bool = False
    old_sid: str | None = None
    #: A login of this user id, and its tag in Redis key names.
    login: str | None = None
    login_tag: str | None = None
    #: A logout.
    logout: bool = False
    #: The current sid is ended for good (logout, cleared).
    ended: bool = False


@dataclasses.dataclass(slots=True)
class User:
    """The logged-in user (Flask-Login's ``_user_id``) and the client of its login."""

    id: str | None = None
    #: The user's name in Redis keys, and its revocation generation at login.
    tag: str | None = None
    generation: int = 0
    #: The login request's client, for the devices page.
    agent: str | None = None
    ip: str | None = None


@dataclasses.dataclass(slots=True)
class SessionState:
    """What the stores need to know about a session beyond its data, in four records.

    Each record has one writer: ``presented`` the interface and the loaders,
    ``stored`` the loaders and the stores, ``due`` the session object and the
    login wiring (through :meth:`mark_login`, :meth:`mark_logout`), ``user``
    the loaders and the save. Nothing here is sent to the client as is.
    """

    #: The session id; None until a new session needs one.
    sid: str | None = None
    presented: Presented = dataclasses.field(default_factory=Presented)
    stored: Stored = dataclasses.field(default_factory=Stored)
    due: Due = dataclasses.field(default_factory=Due)
    user: User = dataclasses.field(default_factory=User)

    @classmethod
    def presenting(cls, value: str | None, transport: Transport = "cookie") -> SessionState:
        """The state of a request that brought ``value`` (which opened nothing yet)."""
        return cls(presented=Presented(transport=transport, value=value))

    def ask_login(self, user_id: str, agent: str | None, ip: str | None) -> None:
        """At save: a new sid, the old one ended, the session indexed under ``user_id``."""
        self.due.rotate = True
        self.due.login, self.due.login_tag = user_id, None
        self.due.logout = False
        self.user.agent = agent[:256] if agent else None
        self.user.ip = ip

    def ask_logout(self) -> None:
        """At save: a new sid, the old one ended and dropped from the user's index."""
        self.due.rotate = True
        self.due.logout = True
        self.due.login = None

    def ask_rotation(self) -> None:
        """At save: a new sid and token, the data kept, the old one ended (``regenerate()``)."""
        self.due.rotate = True

    def pin(self) -> None:
        """Keep the session in Redis whatever its size; its metadata is rewritten at save."""
        self.stored.pinned = self.stored.meta_changed = True

    def copy(self) -> SessionState:
        """A copy for a trial save: its records' fields can be set without changing these
        (the collections inside them, like ``stored.loaded``, are shared: read them only)."""
        return SessionState(
            sid=self.sid,
            presented=dataclasses.replace(self.presented),
            stored=dataclasses.replace(self.stored),
            due=dataclasses.replace(self.due),
            user=dataclasses.replace(self.user),
        )


class HybridSessionData(CallbackDict[str, t.Any], SessionMixin):
    """The object behind :data:`flask.session`.

    A dict with Flask's ``modified``, ``permanent``, ``new`` and ``accessed``
    flags, plus :attr:`sid`. It remembers which top-level keys were set or
    deleted, so server mode writes only those.

    .. versionadded:: 0.1
    """

    modified = False

    def __init__(
        self,
        initial: t.Mapping[str, t.Any] | None = None,
        *,
        state: SessionState | None = None,
        new: bool = True,
    ) -> None:
        def on_update(self: HybridSessionData) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        #: True when the request brought no valid session.
        self.new = new
        self._state = state if state is not None else SessionState()

    @property
    def sid(self) -> str:
        """The session's id: stable for its life, shown to its owner, never a credential."""
        if self._state.sid is None:
            self._state.sid = new_sid()
        return self._state.sid

    @property
    def storage(self) -> Location | None:
        """Where the session lived when the request opened it.

        ``"jwt"``: in its signed, encrypted token; ``"server"``: in Redis;
        ``None``: a new session, not stored yet. For banners and debugging.
        """
        return self._state.stored.origin

    def __setitem__(self, key: str, value: t.Any) -> None:
        self._state.due.changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._state.due.changed.add(key)
        super().__delitem__(key)

    def clear(self) -> None:
        self._state.due.changed.update(self.keys())
        super().clear()

    def pop(self, key: str, *default: t.Any) -> t.Any:
        if key in self:
            self._state.due.changed.add(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, t.Any]:
        item = super().popitem()
        self._state.due.changed.add(item[0])
        return item

    def setdefault(self, key: str, default: t.Any = None) -> t.Any:
        if key not in self:
            self._state.due.changed.add(key)
        return super().setdefault(key, default)

    def update(self, *args: t.Any, **kwargs: t.Any) -> None:
        other = dict(*args, **kwargs)
        self._state.due.changed.update(other)
        super().update(other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict(self)!r}>"


class UnavailableSession(NullSession):
    """Stands in while Redis is down; the extension answers 503 before any view runs."""
