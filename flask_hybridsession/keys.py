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
``<p>{s:<sid>}:r``           string   revocation mark of the sid; TTL = the session's
                                      remaining absolute life
``<p>{s:<sid>}:u``           string   the user tag of a logged-in session (so
                                      ``revoke(sid)`` finds its index entry)
``<p>{u:<tag>}:i``           hash     the user's session index: sid -> sealed info,
                                      sid:ls -> last seen (ms), sid:d -> sealed
                                      device of its login (user agent, IP)
``<p>{u:<tag>}:g``           string   the user's revocation generation (bumped by
                                      ``revoke_user``)
``<p>naming-key``            string   the sealed naming key, when none is configured
=========================== ======== =================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac


@dataclasses.dataclass(frozen=True, slots=True)
class KeyNames:
    """Builds key names under one prefix."""

    prefix: str

    def session(self, sid: str) -> str:
        """The hash of a server-side session."""
        return f"{self.prefix}{{s:{sid}}}"

    def revoked(self, sid: str) -> str:
        """The revocation mark of a sid, in the same slot as its session."""
        return f"{self.prefix}{{s:{sid}}}:r"

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
    def naming_key(self) -> str:
        return f"{self.prefix}naming-key"
