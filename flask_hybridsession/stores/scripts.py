"""The Lua scripts that make each session read and write one Redis round trip.

Each script touches the keys of one session only (one hash tag, one Cluster
slot). Times are milliseconds from the app's clock, passed in, so that idle
and absolute timeouts follow the same clock as the JWT checks. The floor is
Redis 6.2: no hash-field TTLs, no ``EXPIRE GT``, no ``FUNCTION``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing as t


@dataclasses.dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and its SHA-1, for ``EVALSHA``."""

    name: str
    source: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


#: KEYS: session hash, revocation mark.
#: ARGV: token hash ('' when a signed JWT vouches for the sid), now, idle (0 = none).
#: Returns -1 revoked, 0 no live session (missing, wrong token, expired,
#: wrong type), or the hash as a flat list of field, value.
READ: t.Final = Script(
    "read",
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local h = redis.pcall('HGETALL', KEYS[1])
if type(h) ~= 'table' or h.err or #h == 0 then return 0 end
local token, deadline, last
for i = 1, #h, 2 do
  local f = h[i]
  if f == 't' then token = h[i + 1]
  elseif f == 'a' then deadline = tonumber(h[i + 1])
  elseif f == 'l' then last = tonumber(h[i + 1]) end
end
if ARGV[1] ~= '' and token ~= ARGV[1] then return 0 end
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
if not deadline or now >= deadline then return 0 end
if idle > 0 then
  if not last or now >= last + idle then return 0 end
  -- The idle clock and the TTL slide inside the read's own round trip.
  redis.call('HSET', KEYS[1], 'l', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.min(deadline - now, idle))
end
return h
""",
)

#: KEYS: session hash, revocation mark.
#: ARGV: expected token hash ('' creates a new session), new token hash
#: ('' keeps it), now, absolute deadline, idle (0 = none), number of fields
#: to set N, then N field/value pairs, then the fields to delete.
#: Returns 1 written, 0 refused (revoked, replaced or gone meanwhile: a write
#: never brings an ended session back).
WRITE: t.Final = Script(
    "write",
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local kind = redis.call('TYPE', KEYS[1]).ok
if ARGV[1] == '' then
  if kind ~= 'none' then return 0 end
elseif kind ~= 'hash' or redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then
  return 0
end
local now, deadline, idle = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if now >= deadline then
  redis.call('DEL', KEYS[1])
  return 0
end
local meta = {'a', ARGV[4], 'l', ARGV[3]}
if ARGV[2] ~= '' then meta[5] = 't'; meta[6] = ARGV[2] end
redis.call('HSET', KEYS[1], unpack(meta))
local n = tonumber(ARGV[6])
local first, last = 7, 6 + 2 * n
-- unpack() is bounded by the Lua C stack: send large writes in slices.
for i = first, last, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, last)))
end
for i = last + 1, #ARGV, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local ttl = deadline - now
if idle > 0 then ttl = math.min(ttl, idle) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
""",
)

#: KEYS: session hash, revocation mark. ARGV: mark TTL in ms.
#: Ends a sid for good: deletes its server copy and marks it revoked.
#: Returns 1 when the sid was not marked yet.
END: t.Final = Script(
    "end",
    """
local fresh = redis.call('EXISTS', KEYS[2]) == 0
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
if fresh then return 1 end
return 0
""",
)

#: KEYS: session hash. ARGV: token hash the copy must still have.
#: Drops the server copy of a session that moved into a JWT (no mark: the
#: sid lives on in the token).
DROP: t.Final = Script(
    "drop",
    """
if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 't') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
)

ALL: t.Final = (READ, WRITE, END, DROP)
