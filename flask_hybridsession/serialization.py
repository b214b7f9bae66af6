"""Session values to bytes and back, as Flask's own session does it: tagged JSON.

Never pickle. The types that round-trip are Flask's: dict, list, str, int,
float, bool, None, bytes, tuple, datetime, UUID and Markup, plus whatever an
app registers with ``app.session_interface.serializer.register(...)``.

The output is byte for byte Flask's. Two shortcuts make it cheaper: plain
JSON values (str, int, float, bool, None, and dicts and lists of them) skip
Flask's walk through every tag's check while no app tag is registered, and
untagging runs as the JSON decoder's ``object_hook`` (Flask untags
innermost first too) instead of a second walk over the decoded tree, and
not at all for a text with no tagged object in it.
"""

from __future__ import annotations

import json
import typing as t
from itertools import chain

from flask.json.tag import JSONTag
from flask.json.tag import TaggedJSONSerializer

_PLAIN: t.Final = frozenset({str, int, float, bool, type(None)})
_CONTAINERS: t.Final = frozenset({dict, list})
_PLAIN_OR_CONTAINER: t.Final = _PLAIN | _CONTAINERS
#: Deeper than this is never plain (Flask's recursive walk stops near here too).
_MAX_DEPTH: t.Final = 1000
#: More values than this is left to Flask's walk: a cycle through a list that
#: holds itself many times grows each level, and must fail fast, not fill memory.
_MAX_VALUES: t.Final = 1_000_000
#: A list or dict longer than this is checked level by level by _is_plain.
_SMALL: t.Final = 64
_ENCODER: t.Final = json.JSONEncoder(separators=(",", ":"))


class SessionSerializer(TaggedJSONSerializer):
    """Flask's tagged JSON, encoded with the standard library straight to bytes.

    It needs no app context, so stores can use it anywhere. The output is
    ASCII (``\\u`` escapes), so lone surrogates round-trip too.
    """

    def __init__(self) -> None:
        super().__init__()
        #: No app tag registered: plain values may skip the tag checks.
        self._plain_fast = True
        self._decoder = json.JSONDecoder(object_hook=self.untag)

    def register(
        self, tag_class: type[JSONTag], force: bool = False, index: int | None = None
    ) -> None:
        # An app's tag may claim any value (a str, a dict...): from now on
        # every value goes through every check, as in Flask.
        super().register(tag_class, force, index)
        self._plain_fast = False

    def tag(self, value: t.Any) -> t.Any:
        if not self._plain_fast:
            return super().tag(value)
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:
            if len(value) == 1 and next(iter(value)) in self.tags:
                return super().tag(value)  # a dict that looks tagged: Flask escapes it
            return {key: self.tag(item) for key, item in value.items()}
        if kind is list:
            return [self.tag(item) for item in value]
        return super().tag(value)

    def _is_plain(self, value: t.Any) -> bool:
        """Whether tagging would leave ``value`` as it is (no copy is made to find out).

        A large list or dict (a server-mode field such as a long cart) is
        checked level by level (:meth:`_is_plain_by_level`); anything else
        is walked as Flask walks it, the quickest for a few values.
        """
        if type(value) in _CONTAINERS and len(value) > _SMALL:
            return self._is_plain_by_level(value)
        return self._is_plain_small(value)

    def _is_plain_small(self, value: t.Any) -> bool:
        kind = type(value)
        if kind in _PLAIN:
            return True
        if kind is dict:
            if len(value) == 1 and next(iter(value)) in self.tags:
                return False  # a dict that looks tagged: Flask escapes it
            return all(map(self._is_plain_small, value.values()))
        if kind is list:
            return all(map(self._is_plain_small, value))
        return False

    def _is_plain_by_level(self, value: t.Any) -> bool:
        """:meth:`_is_plain` for large values: the types of every value at one
        depth are gathered by ``map`` in C.

        A value deeper than 1,000 levels or wider than a million values in
        all (a cycle is both) is left to Flask's own walk, which fails on a
        cycle or too deep a value as it would in Flask.
        """
        level: list[t.Any] = [value]
        seen = 1
        for _ in range(_MAX_DEPTH):
            kinds = set(map(type, level))
            if kinds <= _PLAIN:
                return True
            if not kinds <= _PLAIN_OR_CONTAINER:
                return False
            dicts = [item for item in level if type(item) is dict] if dict in kinds else []
            lists = [item for item in level if type(item) is list] if list in kinds else []
            # Counted before the next level is built: a list that holds
            # itself many times must not fill memory first.
            seen += sum(map(len, dicts)) + sum(map(len, lists))
            if seen > _MAX_VALUES:
                return False
            tags = self.tags.keys()
            if dicts and not tags.isdisjoint(chain.from_iterable(dicts)):
                if any(len(d) == 1 and next(iter(d)) in tags for d in dicts):
                    return False  # a dict that looks tagged: Flask escapes it
            level = [*chain.from_iterable(map(dict.values, dicts)), *chain.from_iterable(lists)]
        return False

    def dumps(self, value: t.Any) -> str:
        if self._plain_fast and self._is_plain(value):
            return _ENCODER.encode(value)
        return _ENCODER.encode(self.tag(value))

    def loads(self, value: str | bytes) -> t.Any:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        if self._plain_fast and '" ' not in text:
            # Every key of Flask's tags starts with a space, and json.dumps
            # writes a space as is: a text without a quote followed by a
            # space holds no tagged object, so there is nothing to untag.
            return json.loads(text)
        return self._decoder.decode(text)

    def dump_bytes(self, value: t.Any) -> bytes:
        """Serialise ``value`` to ASCII bytes."""
        return self.dumps(value).encode("ascii")
