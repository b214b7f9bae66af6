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
    #: Whether it may write (HYBRID_SESSION_WAIT_REPLICAS waits after these).
    writes: bool = True
    #: The Python types its reply may have.
    reply: tuple[type, ...] = (int,)
    #: Its SHA-1, the name ``EVALSHA`` calls it by (computed once).
    sha: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


# READ's two halves: the sid's revocation mark, then the hash itself.
_READ_MARK: t.Final = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
"""
_READ_HASH: t.Final = """
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
elseif last and now >= last + 60000 and redis.call('EXISTS', KEYS[3]) == 1 then
  -- Last seen of a logged-in session, for the devices page: written at
  -- most once a minute, and never for a guest.
  redis.call('HSET', KEYS[1], 'l', ARGV[2])
end
return h
"""

#: KEYS: session hash, revocation mark, user mark.
#: ARGV: token hash ('' when a signed JWT vouches for the sid), now, idle (0 = none).
#: Returns -1 revoked, 0 no live session (missing, wrong token, expired,
#: wrong type), or the hash as a flat list of field, value.
READ: t.Final = Script("read", writes=False, reply=(int, list), source=_READ_MARK + _READ_HASH)

#: KEYS: session hash, revocation mark.
#: ARGV: expected token hash ('' creates a new session), new token hash
#: ('' keeps it), now, absolute deadline, idle (0 = none), number of fields
#: to set N, then N field/value pairs, then the fields to delete.
#: Returns 1 written, -1 refused because the sid was revoked, 0 refused
#: because the hash is not the one expected (replaced, gone, or created by a
#: parallel request). A write never brings an ended session back, and a
#: replay of the same write (a retried pipeline) counts as done.
WRITE: t.Final = Script(
    "write",
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local kind = redis.call('TYPE', KEYS[1]).ok
if ARGV[1] == '' then
  if kind ~= 'none' then
    if kind == 'hash' and redis.call('HGET', KEYS[1], 't') == ARGV[2] then return 1 end
    return 0
  end
elseif kind ~= 'hash' then
  return 0
else
  local token = redis.call('HGET', KEYS[1], 't')
  if token ~= ARGV[1] and not (ARGV[2] ~= '' and token == ARGV[2]) then return 0 end
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

#: KEYS: session hash, revocation mark, user mark. ARGV: mark TTL in ms.
#: Ends a sid for good: deletes its server copy and user mark, marks it
#: revoked. Returns {1 if it was not marked yet, 1 if Redis knew it (a
#: server copy or a user mark), its user tag or ''}.
END: t.Final = Script(
    "end",
    reply=(list,),
    source="""
local fresh = redis.call('EXISTS', KEYS[2]) == 0 and 1 or 0
local known = redis.call('EXISTS', KEYS[1], KEYS[3]) > 0 and 1 or 0
local tag = redis.pcall('GET', KEYS[3])
if type(tag) ~= 'string' then tag = '' end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return {fresh, known, tag}
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

# The user's keys share the hash tag {u:<tag>}: index (hash) and generation.
# The index holds, per sid, '<sid>' -> sealed SessionInfo, '<sid>:ls' ->
# last seen (ms, in clear so the touch below can rate-limit itself) and
# '<sid>:d' -> the sealed device of its login (user agent, IP; sealed under
# the user, not the sid, so a rotation hands it on as it is).

# Lua functions of the user scripts. generation_of: a GET reply (under
# pcall) as a user's generation: 0 when the key is missing, nil when it holds
# anything but a plain integer (another type, garbage, or what Lua's tonumber
# also takes: 'nan', 'inf', '1e9', '0x10'). restart_generation: sets the key
# to the server's time (ms), above any counter a token can hold, and returns it.
_GENERATIONS: t.Final = """
local function generation_of(raw)
  if not raw then return 0 end
  if type(raw) == 'string' and #raw <= 18 and string.match(raw, '^%d+$') then
    return tonumber(raw)
  end
  return nil
end
local function restart_generation(key)
  local time = redis.call('TIME')
  local generation = string.format('%d', time[1] * 1000 + math.floor(time[2] / 1000))
  redis.call('SET', key, generation)
  return generation
end
"""

#: KEYS: index, generation. ARGV: sid, sealed info, now, deadline, old sid
#: ('' none), user tag, how long (ms) the generation key must live at least
#: (remember-me cookies check it for as long as they live), and the sealed
#: device: set at a login; '' (or absent) keeps the sid's stored device (a
#: move between the token and Redis) or takes the old sid's (a rotation).
#: Indexes a session at login; keeps the generation key alive at least as
#: long as the session, so a bump can never be forgotten while a token that
#: predates it is valid. Returns the user's generation. Garbage is no outage:
#: an index of another type is dropped, and a generation that is not a plain
#: integer (every token of the user already counts as revoked) restarts at
#: the server's time (ms), above any counter a token can hold, as in
#: USER_REVOKE: one clock for both.
USER_LOGIN: t.Final = Script(
    "user_login",
    _GENERATIONS
    + """
local now, deadline = tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = deadline - now
if ttl <= 0 then return 0 end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
local device = ARGV[8] or ''
if ARGV[5] ~= '' then
  if device == '' then device = redis.call('HGET', KEYS[1], ARGV[5] .. ':d') or '' end
  redis.call('HDEL', KEYS[1], ARGV[5], ARGV[5] .. ':ls', ARGV[5] .. ':d')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. ':ls', ARGV[3])
if device ~= '' then redis.call('HSET', KEYS[1], ARGV[1] .. ':d', device) end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
local gen = redis.pcall('GET', KEYS[2])
if not generation_of(gen) then gen = restart_generation(KEYS[2]) end
local keep = math.max(ttl, tonumber(ARGV[7]))
if gen and redis.call('PTTL', KEYS[2]) < keep then redis.call('PEXPIRE', KEYS[2], keep) end
return tonumber(gen) or 0
""",
)

# The user part of USER_CHECK and READ_USER, on locals u_index, u_gen (the
# keys), u_sid, u_now, u_token_gen. Sets u_revoked; touches last seen at most
# once a minute. A generation that is not a plain integer counts as a
# revocation: the token opens nothing, and the request is no 503. A last
# seen of another type is left alone.
_USER_PART: t.Final = (
    _GENERATIONS
    + """
local u_revoked = false
local generation = generation_of(redis.pcall('GET', u_gen))
if not generation or generation > tonumber(u_token_gen) then
  u_revoked = true
else
  local field = u_sid .. ':ls'
  local stored = redis.pcall('HGET', u_index, field)
  local seen = type(stored) == 'string' and tonumber(stored)
  if seen and tonumber(u_now) >= seen + 60000 then
    redis.call('HSET', u_index, field, u_now)
  end
end
"""
)

#: KEYS: index, generation. ARGV: sid, now, token's generation.
#: The per-request user check of a jwt: returns 1 when a revoke_user came
#: after the token's login (or the generation is garbage), else 0.
USER_CHECK: t.Final = Script(
    "user_check",
    writes=False,
    source="""
local u_index, u_gen = KEYS[1], KEYS[2]
local u_sid, u_now, u_token_gen = ARGV[1], ARGV[2], ARGV[3]
"""
    + _USER_PART
    + """
if u_revoked then return 1 end
return 0
""",
)

#: READ and USER_CHECK of a logged-in jwt in one script, where one script
#: may touch both the sid's keys and the user's (one server, Sentinel; a
#: cluster keeps them in two slots and runs the two scripts side by side).
#: KEYS: READ's three, then USER_CHECK's two. ARGV: READ's three, then the
#: sid and the token's generation. Returns as READ; -1 also when a
#: revoke_user came after the token's login.
READ_USER: t.Final = Script(
    "read_user",
    writes=False,
    reply=(int, list),
    source=_READ_MARK
    + """
local u_index, u_gen = KEYS[4], KEYS[5]
local u_sid, u_now, u_token_gen = ARGV[4], ARGV[2], ARGV[5]
"""
    + _USER_PART
    + """
if u_revoked then return -1 end
"""
    + _READ_HASH,
)

#: KEYS: user mark of a sid. ARGV: user tag, TTL in ms.
SET_MARK: t.Final = Script(
    "set_mark",
    reply=(bytes, bool),
    source="""
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
""",
)

#: KEYS: index. ARGV: sid. Drops one session from its user's index (an index
#: of another type holds no session).
USER_DROP: t.Final = Script(
    "user_drop",
    """
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1], ARGV[1] .. ':ls', ARGV[1] .. ':d')
""",
)

#: KEYS: index, generation. ARGV: generation TTL in ms.
#: Log out everywhere: bumps the generation (every token from an earlier
#: login dies) and hands back the index, which is deleted. An index of
#: another type fails the call (the sessions it listed cannot be found, so
#: nothing is claimed done); a generation INCR cannot count (not an integer)
#: restarts at the server's time (ms), above any counter a token can hold.
USER_REVOKE: t.Final = Script(
    "user_revoke",
    reply=(list,),
    source=_GENERATIONS
    + """
local entries = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
if type(redis.pcall('INCR', KEYS[2])) == 'table' then restart_generation(KEYS[2]) end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return entries
""",
)

#: KEYS: a key. ARGV: TTL in ms. Keeps the naming key alive while it names keys.
TOUCH: t.Final = Script(
    "touch",
    """
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
""",
)

#: KEYS: naming key. ARGV: sealed candidate, TTL in ms.
#: The first process stores its candidate; every process reads the winner
#: and keeps the key alive.
NAMING_KEY: t.Final = Script(
    "naming_key",
    reply=(bytes,),
    source="""
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('GET', KEYS[1])
""",
)

ALL: t.Final = (
    READ,
    READ_USER,
    WRITE,
    END,
    DROP,
    SET_MARK,
    USER_LOGIN,
    USER_CHECK,
    USER_DROP,
    USER_REVOKE,
    NAMING_KEY,
    TOUCH,
)
