"""Every Redis key name the package uses, in one place.

Keys of one session share the hash tag ``{s:<sid>}`` and keys of one user
share ``{u:<tag>}``, so every script touches one Cluster slot. A user's tag is
a keyed hash of the user id under the naming key, which is not derived from
``SECRET_KEY``: rotating the secret never renames a key.

=========================== ======== =================================================
key                          type     holds
=========================== ======== =================================================
``<p>{s:<sid>}``             hash     a server-side session: ``t`` SHA-256 of its token,
                                      ``a`` absolute deadline (ms), ``l`` last activity
                                      (ms), ``m`` sealed metadata, and one sealed field
                                      per session key, named by a keyed hash
``<p>{s:<sid>}:r``           string   tombstone of an ended sid: no write brings it
                                      back; TTL = the session's remaining absolute life
``<p>{s:<sid>}:u``           string   the user tag of a logged-in session: the proof
                                      that it still belongs to its user (and how
                                      ``revoke(sid)`` finds its index entry)
``<p>{r:<n>}``               zset     revocation record ``n`` of 64 (by the sid's first
                                      character): member ``#e`` holds minus the epoch
                                      every credential of its sids carries; each other
                                      member is a revoked sid, scored with the end (ms)
                                      of its last token. No TTL: losing it is detected
``<p>{u:<tag>}:i``           hash     the user's session index: sid -> sealed info,
                                      sid:ls -> last seen (ms), sid:d -> sealed
                                      device of its login (user agent, IP)
``<p>{u:<tag>}:g``           string   the user's generation, a random number every
                                      token of the user carries; ``revoke_user``
                                      replaces it
``<p>naming-key``            string   the sealed naming key, when none is configured;
                                      no TTL
``<p>unacknowledged-          string   how many revocations no replica acknowledged in
revocations``                         time (``stats``); TTL 31 days from the last
=========================== ======== =================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import string
import typing as t

#: How many revocation records a prefix has: a sid's is chosen by its first
#: character, which is uniform over the 64 of base64url.
RECORDS: t.Final = 64
BASE64URL: t.Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_RECORD_OF: t.Final = {c: i for i, c in enumerate(BASE64URL)}


@dataclasses.dataclass(frozen=True, slots=True)
class KeyNames:
    """Builds key names under one prefix."""

    prefix: str

    def session(self, sid: str) -> str:
        """The hash of a server-side session."""
        return f"{self.prefix}{{s:{sid}}}"

    def revoked(self, sid: str) -> str:
        """The tombstone of an ended sid, in its session's slot: no write brings it back."""
        return f"{self.prefix}{{s:{sid}}}:r"

    def record(self, sid: str) -> str:
        """The revocation record that holds ``sid``'s epoch and its mark."""
        return self.record_at(record_of(sid))

    def record_at(self, number: int) -> str:
        return f"{self.prefix}{{r:{number}}}"

    def user_mark(self, sid: str) -> str:
        """The user tag of a logged-in session, in the session's slot."""
        return f"{self.prefix}{{s:{sid}}}:u"

    def user_tag(self, naming_key: bytes, user_id: str) -> str:
        """The hash tag of a user: no user id appears in Redis."""
        return hmac.new(naming_key, user_id.encode(), hashlib.sha256).hexdigest()[:32]

    def user_index(self, tag: str) -> str:
        return f"{self.prefix}{{u:{tag}}}:i"

    def user_generation(self, tag: str) -> str:
        return f"{self.prefix}{{u:{tag}}}:g"

    @property
    def view(self) -> str:
        """The channel revocations are published on (see :mod:`.stores.view`)."""
        return f"{self.prefix}view"

    @property
    def naming_key(self) -> str:
        return f"{self.prefix}naming-key"

    @property
    def unacknowledged(self) -> str:
        """How many revocations no replica acknowledged in time (31 days from the last)."""
        return f"{self.prefix}unacknowledged-revocations"


def record_of(sid: str) -> int:
    """The number of ``sid``'s revocation record."""
    return _RECORD_OF.get(sid[:1], 0)
