"""The revocation view: no round trip for a token this process has already checked.

Each process keeps, per app, a bounded map of the sids whose tokens passed
their revocation check, each with what the check proved (the record's epoch,
the user tag and generation). A token that carries exactly that opens without
asking Redis again.

Redis tells the view what changes: every script that revokes publishes on the
prefix's channel (``<prefix>view``) what it ended, ``s:<sid>`` (a sid ended,
marked, or moved into Redis), ``u:<tag>`` (a user's generation replaced) or
``r:<n>`` (a record began a new epoch). The view drops what a message names.
It holds nothing unless its subscription is confirmed, and empties itself on
any doubt: the connection drops, a message it cannot read, a fork. A check
whose answer may have raced a message is not kept. An entry is kept for at
most :data:`MAX_AGE` seconds, so that whatever Redis lost without saying so
(a flush, an eviction) is asked again within that time, and the devices page's
"last seen" stays as fresh as before.

Pub/sub rather than RESP3 client tracking: a script names exactly what it
revoked (tracking names keys, and the sid's keys also change on every server
write), it works with redis-py 5.0 and RESP2, on Sentinel and on a Cluster,
whose nodes pass every message on to each other.

This process's own revocations are dropped from every view of the process
before they are sent (:func:`drop_everywhere`), so that a token revoked here is
never accepted here, not even before the message comes back.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import threading
import time
import typing as t
import weakref

from redis.cluster import RedisCluster

logger = logging.getLogger("flask_hybridsession")

#: How long (s) a checked token opens without asking Redis again.
MAX_AGE: t.Final = 60.0
#: How long (s) the listener waits for a message before it pings the server.
PING_EVERY: t.Final = 0.5
#: How long (s) a ping may go unanswered before the connection counts as lost.
PONG_TIMEOUT: t.Final = 1.0
#: The listener's pauses (s) between tries to subscribe again, doubling.
RETRY_PAUSES: t.Final = (0.05, 0.1, 0.2, 0.5, 1.0)


class _Entry(t.NamedTuple):
    epoch: int | None
    tag: str | None
    generation: int | None
    until: float


class RevocationView:
    """What this process knows to be still good, kept current by Redis.

    :param client: the app's Redis client (its pub/sub connection is a new one).
    :param channel: the prefix's channel.
    :param size: the most sids kept (least recently used out).
    """

    def __init__(self, client: t.Any, channel: str, size: int) -> None:
        self.client = client
        self.channel = channel
        self.size = size
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        #: Bumped by every message and every emptying: a check that saw it
        #: change while it ran is not kept.
        self._seq = 0
        self._live = False
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.hits = 0
        self.misses = 0
        #: The last ``sync:`` marker read (see :func:`settle`).
        self.synced = ""
        _VIEWS.add(self)

    # Reads, on the request's thread.

    def holds(
        self, sid: str, epoch: int | None, tag: str | None, generation: int | None, now: float
    ) -> bool:
        """Whether a token of ``sid`` carrying these proofs opens without a check."""
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            entry = self._entries.get(sid)
            if (
                entry is None
                or not self._live
                or entry.until <= now
                or entry.epoch != epoch
                or entry.tag != tag
                or entry.generation != generation
            ):
                self.misses += 1
                return False
            self._entries.move_to_end(sid)
            self.hits += 1
            return True

    def seen(self) -> int:
        """The mark to hand :meth:`keep` after the check (taken before it)."""
        return self._seq

    def keep(
        self,
        seen: int,
        sid: str,
        epoch: int | None,
        tag: str | None,
        generation: int | None,
        now: float,
    ) -> None:
        """Keep a check's answer "good", unless anything changed since ``seen``."""
        with self._lock:
            if not self._live or self._seq != seen or self._pid != os.getpid():
                return
            old = self._entries.pop(sid, None)
            if old is not None and old.tag is not None:
                self._untag(sid, old.tag)
            self._entries[sid] = _Entry(epoch, tag, generation, now + MAX_AGE)
            if tag is not None:
                self._by_tag.setdefault(tag, set()).add(sid)
            while len(self._entries) > self.size:
                gone, entry = self._entries.popitem(last=False)
                if entry.tag is not None:
                    self._untag(gone, entry.tag)

    # Changes, from Redis or from this process.

    def drop(self, topic: str) -> None:
        """Forget what ``topic`` names: ``s:<sid>``, ``u:<tag>``, ``r:<n>`` or ``*``."""
        kind, _, name = topic.partition(":")
        with self._lock:
            self._seq += 1
            if kind == "s":
                entry = self._entries.pop(name, None)
                if entry is not None and entry.tag is not None:
                    self._untag(name, entry.tag)
            elif kind == "u":
                for sid in self._by_tag.pop(name, ()):
                    self._entries.pop(sid, None)
            else:  # a record's new epoch, or anything unreadable: all of it
                self._empty()

    def _untag(self, sid: str, tag: str) -> None:
        sids = self._by_tag.get(tag)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_tag[tag]

    def _empty(self) -> None:
        self._seq += 1
        self._entries.clear()
        self._by_tag.clear()

    def _set_live(self, live: bool) -> None:
        with self._lock:
            self._empty()
            self._live = live

    # The listener.

    @property
    def live(self) -> bool:
        """Whether the view answers (its subscription confirmed)."""
        return self._live and self._pid == os.getpid()

    def __len__(self) -> int:
        return len(self._entries) if self._pid == os.getpid() else 0

    def report(self) -> dict[str, t.Any]:
        """For ``health()``: live, size, and the share of checks it answered."""
        asked = self.hits + self.misses
        return {
            "enabled": True,
            "live": self.live,
            "size": len(self),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / asked, 4) if asked else None,
        }

    def _start(self) -> None:
        """Start listening in this process (first use, or a forked child: it
        starts empty, with a connection of its own)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._live = False
            self._empty()
            self.hits = self.misses = 0
            ref = weakref.ref(self)
            self._thread = threading.Thread(
                target=_listen, args=(ref, self._pid), name="hybrid-session-view", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop listening (the app's client is being closed)."""
        self._closed = True
        self._set_live(False)


def _listen(ref: weakref.ref[RevocationView], pid: int) -> None:
    """Listen and apply what Redis says until the view is gone, closed or forked."""
    failures = 0
    while True:
        view = ref()
        if view is None or view._closed or view._pid != pid or os.getpid() != pid:
            return
        try:
            listeners = [_Listener(pool, view.channel) for pool in _pools(view.client)]
        except Exception as exc:
            listeners = []
            failure: Exception | None = exc
        else:
            failure = None
        del view
        try:
            if failure is None:
                _follow(ref, pid, listeners)
                failures = 0
        except Exception as exc:
            failure = exc
        finally:
            view = ref()
            if view is not None:
                view._set_live(False)
            del view
            for listener in listeners:
                listener.close()
        if failure is not None:
            failures += 1
            if failures == 1:
                logger.info("revocation view offline (%s); checking every token", failure)
        time.sleep(RETRY_PAUSES[min(failures, len(RETRY_PAUSES) - 1)])


def _pools(client: t.Any) -> list[t.Any]:
    """Where to listen: the server (Sentinel: its master), or every Cluster primary."""
    if isinstance(client, RedisCluster):
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        return [client.get_redis_connection(node).connection_pool for node in primaries]
    return [client.connection_pool]


class _Listener:
    """One connection that hears the view's channel and Redis's invalidations.

    RESP2 whatever the client speaks (redis-py 8 speaks RESP3), so that
    invalidations arrive as messages it reads: ``CLIENT TRACKING`` in
    broadcast mode for the users' keys and the naming key, redirected to
    itself, then ``SUBSCRIBE``. A flush, an eviction or an expiry of a
    generation says so; a flush names no key, and empties the view.
    """

    def __init__(self, pool: t.Any, channel: str) -> None:
        prefix = channel.removesuffix("view")
        kwargs = {**pool.connection_kwargs, "protocol": 2}
        self.connection = pool.connection_class(**kwargs)
        connection = self.connection
        connection.connect()
        connection.send_command("CLIENT", "ID")
        own = connection.read_response()
        connection.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", own, "BCAST",
            "PREFIX", prefix + "{u:", "PREFIX", prefix + "naming-key",
        )  # fmt: skip
        if connection.read_response() not in (b"OK", "OK"):
            raise ConnectionError("CLIENT TRACKING refused")
        connection.send_command("SUBSCRIBE", channel, INVALIDATIONS)
        self.confirmed = 0
        self.heard = time.monotonic()  # when it last read anything
        self.asked = 0.0  # when the unanswered ping was sent (0: none)

    def fileno(self) -> int:
        return int(self.connection._sock.fileno())

    def close(self) -> None:
        try:
            self.connection.disconnect()
        except Exception:  # noqa: S110 - closing a dead connection
            pass


#: The channel Redis sends invalidations to (RESP2, redirected).
INVALIDATIONS: t.Final = "__redis__:invalidate"


def _follow(ref: weakref.ref[RevocationView], pid: int, listeners: list[_Listener]) -> None:
    while True:
        for listener in listeners:
            while listener.connection.can_read(timeout=0):
                message = listener.connection.read_response()
                listener.heard = time.monotonic()
                view = ref()
                if view is None or view._closed or view._pid != pid:
                    return
                _apply(view, listener, message)
                if all(one.confirmed == 2 for one in listeners) and not view._live:
                    view._set_live(True)
                del view
        select.select(listeners, [], [], PING_EVERY)
        # Each connection is pinged after a second without a word from it,
        # even while another one is busy: a silent one is a lost one.
        now = time.monotonic()
        for listener in listeners:
            if listener.asked and now - listener.asked > PONG_TIMEOUT:
                raise ConnectionError("the view's ping went unanswered")
            if not listener.asked and now - listener.heard >= PING_EVERY:
                listener.connection.send_command("PING")
                listener.asked = now
        view = ref()
        if view is None or view._closed or view._pid != pid:
            return
        del view


def _apply(view: RevocationView, listener: _Listener, message: t.Any) -> None:
    """Apply one reply of a listener's connection to the view."""
    if not isinstance(message, list) or len(message) < 2:
        raise ConnectionError(f"the view read {message!r}")
    kind = _text(message[0])
    if kind == "pong":
        listener.asked = 0.0
    elif kind == "subscribe":
        listener.confirmed += 1
    elif kind == "message" and _text(message[1]) == INVALIDATIONS:
        keys = message[2]
        if not isinstance(keys, list):
            view.drop("*")  # a flush: everything
            return
        for key in keys:
            # A user's generation ('<prefix>{u:<tag>}:g') or the naming key;
            # the user's index (and its copy being ended) is no proof.
            name = _text(key)
            if name.endswith("naming-key"):
                view.drop("*")
            elif name.endswith("}:g"):
                view.drop(name[name.index("{") + 1 : -3])
    elif kind == "message" and _text(message[2]).startswith("sync:"):
        view.synced = _text(message[2])  # see settle()
    elif kind == "message":
        view.drop(_text(message[2]))
    else:
        view.drop("*")


def _text(value: t.Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


#: Every view of this process, to drop a revocation of its own at once.
_VIEWS: weakref.WeakSet[RevocationView] = weakref.WeakSet()


def _after_fork() -> None:
    """A forked child starts with every view empty and not listening: its lock
    anew (a parent's thread may have held it), its own connection at first use."""
    for view in list(_VIEWS):
        view._lock = threading.Lock()
        view._pid = 0
        view._live = False
        view._empty()
        view._thread = None


os.register_at_fork(after_in_child=_after_fork)


def drop_everywhere(channel: str, topics: t.Iterable[str]) -> None:
    """Drop ``topics`` from every view of this process on ``channel``, before
    the revocation is sent: no token it revokes opens here meanwhile."""
    topics = list(topics)
    for view in list(_VIEWS):
        if view.channel == channel:
            for topic in topics:
                view.drop(topic)


def view_subscribers(client: t.Any, channel: str) -> int:
    """How many views (one per process and app) listen on ``channel``: ``PUBSUB
    NUMSUB``, summed over the nodes of a Cluster.

    :raises redis.RedisError: Redis is unavailable.
    """
    nodes: list[t.Any] = [client]
    if isinstance(client, RedisCluster):
        nodes = [client.get_redis_connection(node) for node in client.get_nodes()]  # type: ignore[no-untyped-call]
    total = 0
    for node in nodes:
        total += int(node.execute_command("PUBSUB", "NUMSUB", channel)[1])
    return total


def settle(timeout: float = 5.0) -> None:
    """Wait until every live view of this process has read all that Redis sent
    it so far: a marker published now comes after it (tests, after a loss or a
    revocation made elsewhere).

    :raises TimeoutError: a view did not read its marker in time.
    """
    deadline = time.monotonic() + timeout
    for view in list(_VIEWS):
        if not view.live:
            continue
        marker = f"sync:{os.getpid()}:{id(view)}:{time.monotonic_ns()}"
        view.client.publish(view.channel, marker)
        while view.synced != marker and view.live:
            if time.monotonic() > deadline:
                raise TimeoutError("a revocation view did not read its marker in time")
            time.sleep(0.001)
