"""The store contract: one suite run over every store, as cachelib's tests/common.py.

Each test drives the Flask-free engine directly (``SessionEngine.save`` and
``SessionEngine.open``, no request, no response) on the real Redis of the
fixtures, once per store: ``jwt``, ``server``, ``auto`` with a session that
fits its token, and ``auto-redis`` (auto with the smallest token budget, so
the same session outgrows its token and lives in Redis). What Redis did is
read from the server itself: ``INFO commandstats`` (commands flagged
``write`` or ``may_replicate`` by ``COMMAND``) and ``rdb_changes_since_last_save``.
"""

from __future__ import annotations

import datetime
import typing as t
import uuid

import pytest
import redis
from flask import Flask
from markupsafe import Markup

from flask_hybridsession.engine import MAX_CREDENTIAL
from flask_hybridsession.engine import SessionEngine
from flask_hybridsession.errors import InvalidCredential
from flask_hybridsession.interface import HybridSessionInterface
from flask_hybridsession.session import SID_FORMAT
from flask_hybridsession.session import HybridSessionData
from flask_hybridsession.session import SessionState
from flask_hybridsession.stores import jwt as jwt_store
from flask_hybridsession.stores import server as server_store
from flask_hybridsession.stores.base import Context
from flask_hybridsession.stores.base import Issue

from ..conftest import AppFactory

#: Each store of the suite: its mode and the configuration that makes it.
STORES: dict[str, tuple[str, dict[str, t.Any]]] = {
    "jwt": ("jwt", {}),
    "server": ("server", {}),
    "auto": ("auto", {}),
    # The smallest budget there is: no session of the suite fits its token.
    "auto-redis": ("auto", {"HYBRID_SESSION_MAX_COOKIE_BYTES": 256}),
}
#: Where each store keeps the suite's sessions: in the token, or in Redis.
LIVES_IN: dict[str, str] = {"jwt": "jwt", "server": "server", "auto": "jwt", "auto-redis": "server"}

#: Flask's tagged types, nested, and a dict whose one key looks like a tag.
TAGGED: dict[str, t.Any] = {
    "bytes": b"\x00\xff raw \x80",
    "tuple": (1, "two", 3.5, None, (b"in", True)),
    "when": datetime.datetime(2024, 5, 17, 12, 30, 45, tzinfo=datetime.UTC),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "markup": Markup("<b>bold</b>"),
    "nested": {"list": [1, {"deep": b"\x01"}], "text": "h\u00e9llo \u2603", "tag": {" t": "x"}},
    "empty": {},
    "number": 42,
}


class Harness:
    """One app's engine, driven with no request: save, open, and a fresh context each call."""

    def __init__(self, app: Flask) -> None:
        interface = app.session_interface
        assert isinstance(interface, HybridSessionInterface)
        self.app = app
        self.engine: SessionEngine = interface.engine

    def context(self) -> Context:
        secrets = self.engine.secrets(self.app.config)
        assert secrets is not None
        return self.engine.context(self.app.config, secrets)

    def save(self, session: HybridSessionData) -> Issue | None:
        return self.engine.save(self.context(), session)

    def open(self, credential: str) -> HybridSessionData:
        """The session ``credential`` opens, as the interface builds it."""
        state = SessionState.presenting(credential)
        data = self.engine.open(self.context(), state, credential)
        return HybridSessionData(data, state=state, new=False)

    def create(self, data: t.Mapping[str, t.Any]) -> tuple[HybridSessionData, str]:
        """A new session holding ``data``, saved: the session and its credential."""
        session = HybridSessionData()
        session.update(data)
        return session, self.saved(session)

    def saved(self, session: HybridSessionData) -> str:
        """Save a changed session: the credential the response carries."""
        issue = self.save(session)
        assert issue is not None and issue.value is not None
        return issue.value


def build(make_app: AppFactory, store_id: str) -> Harness:
    mode, config = STORES[store_id]
    return Harness(make_app(mode, **config))


@pytest.fixture(params=list(STORES))
def store_id(request: pytest.FixtureRequest) -> str:
    return t.cast(str, request.param)


@pytest.fixture()
def store(make_app: AppFactory, store_id: str) -> Harness:
    return build(make_app, store_id)


class Activity:
    """What the Redis server did between two snapshots, by its own counters."""

    def __init__(self, rdb: redis.Redis) -> None:
        self.rdb = rdb
        self.writers = {
            name
            for name, info in rdb.command().items()
            if {"write", "may_replicate"} & set(info["flags"])
        }
        self.calls, self.dirty = self._read()

    def _read(self) -> tuple[dict[str, int], int]:
        stats = self.rdb.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        dirty = int(self.rdb.info("persistence")["rdb_changes_since_last_save"])
        return calls, dirty

    def since(self) -> tuple[set[str], int]:
        """The commands called since the snapshot (our own INFO aside), and the keys changed."""
        calls, dirty = self._read()
        grown = {name for name, n in calls.items() if n > self.calls.get(name, 0)}
        return grown - {"info"}, dirty - self.dirty

    def writes(self) -> tuple[set[str], int]:
        """The write commands called since the snapshot, and the keys changed."""
        grown, dirty = self.since()
        return grown & self.writers, dirty


def refused(harness: Harness, credential: str) -> str:
    """The reason ``credential`` opens nothing; fails the test if it opens."""
    with pytest.raises(InvalidCredential) as caught:
        harness.open(credential)
    return str(caught.value)


def test_store_keeps_the_session_where_its_mode_says(store: Harness, store_id: str) -> None:
    _, credential = store.create(TAGGED)
    lives_in = LIVES_IN[store_id]
    token_format = server_store.TOKEN_FORMAT if lives_in == "server" else jwt_store.TOKEN_FORMAT
    assert token_format.fullmatch(credential)
    assert store.open(credential).storage == lives_in


def test_saved_session_opens_with_the_same_data(store: Harness) -> None:
    session, credential = store.create(TAGGED)
    opened = store.open(credential)
    assert dict(opened) == TAGGED
    # Equal is not enough: a tuple must not come back a list, nor bytes a str.
    for key, value in TAGGED.items():
        assert type(opened[key]) is type(value), key
    assert type(opened["tuple"][4]) is tuple
    assert type(opened["nested"]["list"][1]["deep"]) is bytes
    assert opened["when"].tzinfo is not None
    assert opened.sid == session.sid
    assert SID_FORMAT.fullmatch(opened.sid)
    assert opened.new is False and opened.modified is False


def test_untouched_session_saves_nothing(store: Harness, rdb: redis.Redis) -> None:
    _, credential = store.create(TAGGED)
    opened = store.open(credential)
    assert opened.get("number") == 42  # read, never written
    activity = Activity(rdb)
    assert store.save(opened) is None
    assert activity.writes() == (set(), 0)


def test_new_empty_session_saves_nothing(store: Harness, rdb: redis.Redis) -> None:
    activity = Activity(rdb)
    assert store.save(HybridSessionData()) is None
    assert activity.since() == (set(), 0)


def test_emptied_session_ends_and_its_credential_no_longer_opens(
    store: Harness, rdb: redis.Redis
) -> None:
    _, earlier = store.create(TAGGED)
    opened = store.open(earlier)
    opened["number"] = 1
    credential = store.saved(opened)
    opened = store.open(credential)
    opened.clear()
    activity = Activity(rdb)
    assert store.save(opened) == Issue(None)
    writes, dirty = activity.writes()
    if not credential.startswith("v1."):
        # A guest's token session leaves nothing in Redis (a flood of
        # guests writes nothing): its old tokens expire by themselves.
        assert not writes and dirty == 0
        return
    # A store that kept the session in Redis drops it there.
    assert writes and dirty > 0
    assert refused(store, credential)
    assert refused(store, earlier)  # every credential the session had
    # A popped last key ends the session too.
    _, second = store.create({"only": 1})
    reopened = store.open(second)
    reopened.pop("only")
    assert store.save(reopened) == Issue(None)
    assert refused(store, second)


def test_changed_key_round_trips_and_unchanged_keys_keep_their_values(store: Harness) -> None:
    _, credential = store.create(TAGGED)
    opened = store.open(credential)
    opened["number"] = 43
    opened["nested"] = {"replaced": (b"\x02",)}
    del opened["markup"]
    opened["added"] = uuid.UUID(int=7)
    reopened = store.open(store.saved(opened))
    expected = {k: v for k, v in TAGGED.items() if k != "markup"}
    expected.update(number=43, nested={"replaced": (b"\x02",)}, added=uuid.UUID(int=7))
    assert dict(reopened) == expected
    assert "markup" not in reopened
    assert type(reopened["nested"]["replaced"]) is tuple


def test_a_value_mutated_in_place_is_saved_when_marked_modified(store: Harness) -> None:
    _, credential = store.create({"cart": [1], "other": "kept"})
    opened = store.open(credential)
    opened["cart"].append(2)  # Flask's rule: in-place changes need session.modified
    opened.modified = True
    reopened = store.open(store.saved(opened))
    assert dict(reopened) == {"cart": [1, 2], "other": "kept"}


def test_sid_is_stable_across_saves(store: Harness) -> None:
    session, credential = store.create({"n": 0})
    sid = session.sid
    for n in range(1, 4):
        opened = store.open(credential)
        assert opened.sid == sid
        opened["n"] = n
        credential = store.saved(opened)
        assert opened.sid == sid
    final = store.open(credential)
    assert final.sid == sid and final["n"] == 3


def test_each_save_issues_a_credential_that_opens(store: Harness, store_id: str) -> None:
    _, first = store.create({"n": 0})
    opened = store.open(first)
    opened["n"] = 1
    issue = store.save(opened)
    assert issue is not None and issue.value is not None
    assert issue.expires is not None and issue.expires > int(store.engine.clock())
    if LIVES_IN[store_id] == "server":
        # The hash changed in place: the client keeps its token.
        assert (issue.value, issue.renewed) == (first, False)
    else:
        # A new token, same sid, fresh jti.
        assert issue.value != first and issue.renewed
    assert store.open(issue.value)["n"] == 1


#: Every (source, target) pair of different stores, for the mode switches.
SWITCHES = [(a, b) for a in STORES for b in STORES if a != b]
#: The switches whose target keeps the session where the source did.
STAYS = [(a, b) for a, b in SWITCHES if LIVES_IN[a] == LIVES_IN[b]]


@pytest.mark.parametrize(("store_id", "target_id"), SWITCHES)
def test_credential_opens_in_every_other_store(
    make_app: AppFactory, store_id: str, target_id: str
) -> None:
    """SPEC: switching HYBRID_SESSION_MODE and restarting logs nobody out."""
    source, target = build(make_app, store_id), build(make_app, target_id)
    session, credential = source.create(TAGGED)
    opened = target.open(credential)
    assert dict(opened) == TAGGED
    assert opened.sid == session.sid
    assert opened.storage == LIVES_IN[store_id]
    # The target saves a change where its mode says; both engines open the result.
    opened["number"] = 99
    moved = target.saved(opened)
    for engine in (target, source):
        reopened = engine.open(moved)
        assert reopened.sid == session.sid
        assert dict(reopened) == {**TAGGED, "number": 99}
    assert target.open(moved).storage == LIVES_IN[target_id]
    # The credential from before the switch never opens the stale copy once
    # the session is in Redis; the Redis copy of a session that moved into
    # its token is dropped. (Between two token stores, an older token opens
    # the session as it was: documented, docs/api-clients.md.)
    if LIVES_IN[target_id] == "server":
        assert dict(source.open(credential)) == {**TAGGED, "number": 99}
    elif LIVES_IN[store_id] == "server":
        assert refused(source, credential)


@pytest.mark.parametrize(("store_id", "target_id"), STAYS)
def test_untouched_session_saves_nothing_after_a_mode_switch(
    make_app: AppFactory, rdb: redis.Redis, store_id: str, target_id: str
) -> None:
    source, target = build(make_app, store_id), build(make_app, target_id)
    _, credential = source.create(TAGGED)
    opened = target.open(credential)
    activity = Activity(rdb)
    assert target.save(opened) is None
    assert activity.writes() == (set(), 0)


def flip_middle(credential: str) -> str:
    """``credential`` with its middle character changed to another of the same alphabet."""
    middle = len(credential) // 2
    char = credential[middle]
    other = "B" if char == "A" else "A"
    return credential[:middle] + other + credential[middle + 1 :]


def test_tampered_credential_is_refused(store: Harness) -> None:
    _, credential = store.create(TAGGED)
    tampered = flip_middle(credential)
    assert tampered != credential and len(tampered) == len(credential)
    assert refused(store, tampered)
    # The tampering broke nothing else: the real credential still opens.
    assert dict(store.open(credential)) == TAGGED


def test_overlong_credential_is_refused_without_touching_redis(
    store: Harness, rdb: redis.Redis
) -> None:
    _, credential = store.create(TAGGED)
    # Shaped like a JWT, so only its length sends it away before parsing.
    head, payload, signature = "eyJhbGciOiJIUzI1NiJ9", "e30", "A" * 43
    filler = "x" * (MAX_CREDENTIAL + 1 - len(head) - len(payload) - len(signature) - 2)
    overlong = f"{head}.{payload}{filler}.{signature}"
    assert len(overlong) == MAX_CREDENTIAL + 1
    padded = credential + "A" * (MAX_CREDENTIAL + 1 - len(credential))
    # One character shorter, the same shape reaches the JWT loader.
    assert store.engine.loader(overlong[1:]) is store.engine.jwt_store
    activity = Activity(rdb)
    for candidate in (overlong, padded, overlong + "x" * 10_000):
        assert store.engine.loader(candidate) is None
        assert refused(store, candidate) == "malformed"
    assert activity.since() == (set(), 0)


def test_foreign_credentials_are_refused(store: Harness) -> None:
    session, credential = store.create(TAGGED)
    unknown_server_token = server_store.new_token(session.sid)
    for candidate in ("", "v1.", "not a token", "a.b.c", unknown_server_token):
        assert refused(store, candidate)
    assert dict(store.open(credential)) == TAGGED
