"""Session values to bytes and back, as Flask's own session does it: tagged JSON.

Never pickle. The types that round-trip are Flask's: dict, list, str, int,
float, bool, None, bytes, tuple, datetime, UUID and Markup, plus whatever an
app registers with ``app.session_interface.serializer.register(...)``.
"""

from __future__ import annotations

import json
import typing as t

from flask.json.tag import TaggedJSONSerializer


class SessionSerializer(TaggedJSONSerializer):
    """Flask's tagged JSON, encoded with the standard library straight to bytes.

    It needs no app context, so stores can use it anywhere. The output is
    ASCII (``\\u`` escapes), so lone surrogates round-trip too.
    """

    def dumps(self, value: t.Any) -> str:
        return json.dumps(self.tag(value), separators=(",", ":"))

    def loads(self, value: str | bytes) -> t.Any:
        return self._untag_scan(json.loads(value))

    def dump_bytes(self, value: t.Any) -> bytes:
        """Serialise ``value`` to ASCII bytes."""
        return self.dumps(value).encode("ascii")
