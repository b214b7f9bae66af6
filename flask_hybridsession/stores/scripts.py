"""The Lua scripts that make each session read and write one Redis round trip.

Each script touches the keys of one Cluster slot, except :data:`CHECK` on a
single server or Sentinel, where it also reads the sid's revocation record and
its user's keys (a cluster runs :data:`EPOCH` and :data:`USER_CHECK` beside it
instead). Times are milliseconds from the app's clock, passed in, so that idle
and absolute timeouts follow the same clock as the JWT checks. The floor is
Redis 6.2: no hash-field TTLs, no ``EXPIRE GT``, no ``FUNCTION``.

Two rules hold for every script:

- ``ARGV[1]`` is a nonce of the call, and the reply is a list that begins with
  it: the client compares it, so a reply is never taken for another request's.
- The first write that can grow memory is one Redis refuses under ``maxmemory``
  (``SET``, ``HSET``, ``ZADD``): Redis checks only a script's first write, so
  under ``noeviction`` a flood stops at the limit instead of passing it.
- What a script revokes (a sid, a user's generation, a record's epoch) it
  publishes on ``<prefix>view`` as its key's hash tag (``s:<sid>``, ``u:<tag>``,
  ``r:<n>``) with ``tell``, for every :mod:`revocation view <.view>`; never
  failing the script (an ACL user without the channel, as Redis 7's default).

Fail closed: a logged-in credential passes only while its proofs are present
(the sid's user mark, and its user's generation equal to the one it carries);
a credential of a guest passes while its revocation record holds the epoch it
carries and no mark of its sid. Whatever Redis loses, a check refuses.
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
    #: Whether it may write (HYBRID_SESSION_WAIT_REPLICAS = N waits after these).
    writes: bool = True
    #: Whether it revokes (HYBRID_SESSION_WAIT_REPLICAS = "auto" waits after these).
    revokes: bool = False
    #: Its SHA-1, the name ``EVALSHA`` calls it by (computed once).
    sha: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


# Lua functions every script may use.
#
# generation_of: a GET reply (under pcall) as a user's generation, or nil when
# the key is missing or holds anything but a plain integer.
# record_epoch: the epoch of a revocation record (its member '#e' holds minus
# the epoch); a record that is missing, of another type or garbage begins a
# new epoch from the caller's candidate, and every credential of the old one
# is refused. Returns the epoch and whether it is new.
# marked: whether the record holds a live mark of sid (score = its end, ms).
# tell: see the third rule above.
_TELL: t.Final = """
local function tell(key, topic)
  local channel = string.match(key, '^(.-){') .. 'view'
  redis.pcall('PUBLISH', channel, topic or string.match(key, '{(.-)}'))
end
"""
_FUNCTIONS: t.Final = (
    _TELL
    + """
local function generation_of(raw)
  if type(raw) == 'string' and #raw <= 18 and string.match(raw, '^%d+$') then
    return tonumber(raw)
  end
  return nil
end
local function record_epoch(key, candidate)
  local score = redis.pcall('ZSCORE', key, '#e')
  local epoch = type(score) == 'string' and tonumber(score)
  if epoch and epoch < 0 then return -epoch, false end
  if type(score) == 'table' then redis.call('DEL', key) end
  redis.call('ZADD', key, -tonumber(candidate), '#e')
  tell(key)
  return tonumber(candidate), true
end
local function marked(key, sid, now)
  local score = redis.pcall('ZSCORE', key, sid)
  return type(score) == 'string' and (tonumber(score) or 0) > now
end
local function reply(list, nonce)
  table.insert(list, 1, nonce)
  return list
end
"""
)

#: KEYS: session hash, tombstone, user mark, and on one server the sid's
#: revocation record. ARGV: nonce, sid, the token hash a Redis copy must have,
#: now, idle (0 = none), the epoch the credential carries, a candidate epoch,
#: its user tag ('' = a guest), its generation, the key prefix ('' = the
#: user's keys are checked beside, by USER_CHECK), '1' for a server token
#: ('' for a JWT).
#: Returns {nonce, status, epoch, hash fields...}: status -1 refused
#: (revoked, or a proof missing), 0 no copy in Redis (a JWT opens itself; a
#: server token opens nothing), 1 the copy's fields follow. A copy in Redis
#: carries its own epoch, user tag and generation ('e', 'u', 'g'), which the
#: checks then use. Epoch 0: the record is checked beside (EPOCH).
CHECK: t.Final = Script(
    "check",
    writes=False,
    source=_FUNCTIONS
    + """
local nonce, sid, now, idle = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
local server = ARGV[11] == '1'
if redis.call('EXISTS', KEYS[2]) == 1 then return {nonce, -1, 0} end
local h = redis.pcall('HGETALL', KEYS[1])
if type(h) ~= 'table' or h.err then h = {} end
local carried, tag, gen = ARGV[6], ARGV[8], ARGV[9]
local deadline, last
if #h > 0 then
  local f = {}
  for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
  -- Only its own token opens a copy (a JWT's own is the token its jti
  -- derives): an older token of a session that moved here is refused.
  local lost = server and 0 or -1
  if f['t'] ~= ARGV[3] then return {nonce, lost, 0} end
  deadline, last = tonumber(f['a'] or ''), tonumber(f['l'] or '')
  if not deadline or now >= deadline then return {nonce, lost, 0} end
  if idle > 0 and (not last or now >= last + idle) then return {nonce, lost, 0} end
  carried, tag, gen = f['e'] or '', f['u'] or '', f['g'] or ''
elseif server then
  return {nonce, 0, 0}
end
local epoch = 0
if KEYS[4] then
  epoch = record_epoch(KEYS[4], ARGV[7])
  if tonumber(carried) ~= epoch or marked(KEYS[4], sid, now) then return {nonce, -1, epoch} end
end
if tag ~= '' then
  -- The proofs of a logged-in credential: its sid's user mark, and its
  -- user's generation (on a cluster, USER_CHECK checks that one beside).
  if not string.match(tag, '^%x+$') or redis.pcall('GET', KEYS[3]) ~= tag then
    return {nonce, -1, epoch}
  end
  if ARGV[10] ~= '' then
    local user = ARGV[10] .. '{u:' .. tag .. '}'
    local stored = generation_of(redis.pcall('GET', user .. ':g'))
    if not stored or stored ~= tonumber(gen) then return {nonce, -1, epoch} end
    local field = sid .. ':ls'
    local seen = redis.pcall('HGET', user .. ':i', field)
    seen = type(seen) == 'string' and tonumber(seen)
    if seen and now >= seen + 60000 then redis.call('HSET', user .. ':i', field, ARGV[4]) end
  end
end
if #h > 0 then
  if idle > 0 then
    -- The idle clock and the TTL slide inside the check's own round trip.
    redis.call('HSET', KEYS[1], 'l', ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.min(deadline - now, idle))
  elseif tag ~= '' and last and now >= last + 60000 then
    -- Last seen of a logged-in session, for the devices page: written at
    -- most once a minute, and never for a guest.
    redis.call('HSET', KEYS[1], 'l', ARGV[4])
  end
  table.insert(h, 1, epoch)
  table.insert(h, 1, 1)
  return reply(h, nonce)
end
return {nonce, 0, epoch}
""",
)

#: KEYS: a revocation record. ARGV: nonce, sid ('' none), now, the epoch a
#: credential carries ('' only asks for the epoch), a candidate epoch.
#: Returns {nonce, status, epoch}: status -1 when the credential's epoch is
#: not the record's or its sid is marked, else 0. A missing record begins a
#: new epoch.
EPOCH: t.Final = Script(
    "epoch",
    writes=False,
    source=_FUNCTIONS
    + """
local epoch = record_epoch(KEYS[1], ARGV[5])
if ARGV[4] == '' then return {ARGV[1], 0, epoch} end
if tonumber(ARGV[4]) ~= epoch or marked(KEYS[1], ARGV[2], tonumber(ARGV[3])) then
  return {ARGV[1], -1, epoch}
end
return {ARGV[1], 0, epoch}
""",
)

#: KEYS: session hash, tombstone. ARGV: nonce, expected token hash ('' creates
#: a new session), new token hash ('' keeps it), now, absolute deadline, idle
#: (0 = none), the key of the user's generation to copy into field 'g' (''
#: none: a login on one server, after USER_LOGIN in the same trip), number of
#: fields to set N, then N field/value pairs, then the fields to delete.
#: Returns {nonce, 1} written, -1 refused because the sid was ended, 0
#: refused because the hash is not the one expected (replaced, gone, or
#: created by a parallel request). A write never brings an ended session
#: back, and a replay of the same write (a retried pipeline) counts as done.
WRITE: t.Final = Script(
    "write",
    _TELL
    + """
local nonce = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then return {nonce, -1} end
local kind = redis.call('TYPE', KEYS[1]).ok
if ARGV[2] == '' then
  if kind ~= 'none' then
    if kind == 'hash' and redis.call('HGET', KEYS[1], 't') == ARGV[3] then return {nonce, 1} end
    return {nonce, 0}
  end
elseif kind ~= 'hash' then
  return {nonce, 0}
else
  local token = redis.call('HGET', KEYS[1], 't')
  if token ~= ARGV[2] and not (ARGV[3] ~= '' and token == ARGV[3]) then return {nonce, 0} end
end
local now, deadline, idle = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if now >= deadline then
  redis.call('DEL', KEYS[1])
  return {nonce, 0}
end
local meta = {'a', ARGV[5], 'l', ARGV[4]}
if ARGV[3] ~= '' then meta[5] = 't'; meta[6] = ARGV[3] end
redis.call('HSET', KEYS[1], unpack(meta))
-- A new copy: a token of the sid that opened by itself opens no more.
if ARGV[2] == '' then tell(KEYS[1]) end
local n = tonumber(ARGV[8])
local first, last = 9, 8 + 2 * n
-- unpack() is bounded by the Lua C stack: send large writes in slices.
for i = first, last, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, last)))
end
for i = last + 1, #ARGV, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[7] ~= '' then
  local generation = redis.pcall('GET', ARGV[7])
  if type(generation) == 'string' then redis.call('HSET', KEYS[1], 'g', generation) end
end
local ttl = deadline - now
if idle > 0 then ttl = math.min(ttl, idle) end
redis.call('PEXPIRE', KEYS[1], ttl)
return {nonce, 1}
""",
)

#: KEYS: session hash, tombstone, user mark. ARGV: nonce, tombstone TTL in
#: ms (0: none, for a guest's own clear). Ends a sid: deletes its server copy
#: and user mark (so no proof of it is left) and, with a TTL, tombstones it
#: so that no parallel request writes it back. Returns {nonce, 1 if it was
#: not tombstoned yet, 1 if Redis knew it (a server copy or a user mark), its
#: user tag or ''}.
END: t.Final = Script(
    "end",
    revokes=True,
    source=_TELL
    + """
local fresh = redis.call('EXISTS', KEYS[2]) == 0 and 1 or 0
local known = redis.call('EXISTS', KEYS[1], KEYS[3]) > 0 and 1 or 0
local tag = redis.pcall('GET', KEYS[3])
if type(tag) ~= 'string' then tag = '' end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
redis.call('DEL', KEYS[1], KEYS[3])
tell(KEYS[1])
return {ARGV[1], fresh, known, tag}
""",
)

#: KEYS: a revocation record. ARGV: nonce, sid, until (ms), now, candidate
#: epoch. Marks a sid revoked in its record until its tokens are expired
#: anyway, and drops up to 100 marks that are past. Returns {nonce, epoch}.
MARK: t.Final = Script(
    "mark",
    revokes=True,
    source=_FUNCTIONS
    + """
local epoch = record_epoch(KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[2])
tell(KEYS[1], 's:' .. ARGV[2])
local past = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[4], 'LIMIT', 0, 100)
if #past > 0 then redis.call('ZREM', KEYS[1], unpack(past)) end
return {ARGV[1], epoch}
""",
)

#: KEYS: session hash. ARGV: nonce, token hash the copy must still have.
#: Drops the server copy of a session that moved into a JWT (no mark: the
#: sid lives on in the token).
DROP: t.Final = Script(
    "drop",
    """
if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 't') == ARGV[2] then
  return {ARGV[1], redis.call('DEL', KEYS[1])}
end
return {ARGV[1], 0}
""",
)

# The user's keys share the hash tag {u:<tag>}: index (hash) and generation.
# The index holds, per sid, '<sid>' -> sealed SessionInfo, '<sid>:ls' ->
# last seen (ms, in clear so the touch below can rate-limit itself) and
# '<sid>:d' -> the sealed device of its login (user agent, IP; sealed under
# the user, not the sid, so a rotation hands it on as it is).

#: KEYS: index, generation. ARGV: nonce, sid, sealed info, now, deadline,
#: old sid ('' none), how long (ms) the generation key must live at least
#: (remember-me cookies check it for as long as they live), the sealed
#: device, a candidate generation, the most sessions a user may have (0: no cap).
#: The device is set at a login; '' keeps the sid's stored device (a move
#: between the token and Redis) or takes the old sid's (a rotation).
#: Indexes a session; a user with no generation (first login, or Redis lost
#: it) gets the candidate, so a generation is never one an older token
#: carries. Keeps the generation key alive at least as long as the session.
#: Past the cap, the least recently seen other sessions leave the index (at
#: most 16 a call) and are returned, for the caller to end.
#: Returns {nonce, the user's generation (0: the session is already over),
#: the sids it dropped...}.
USER_LOGIN: t.Final = Script(
    "user_login",
    _FUNCTIONS
    + """
local now, deadline = tonumber(ARGV[4]), tonumber(ARGV[5])
local ttl = deadline - now
if ttl <= 0 then return {ARGV[1], 0} end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
local device = ARGV[8] or ''
if ARGV[6] ~= '' then
  if device == '' then device = redis.call('HGET', KEYS[1], ARGV[6] .. ':d') or '' end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], ARGV[2] .. ':ls', ARGV[4])
if ARGV[6] ~= '' then redis.call('HDEL', KEYS[1], ARGV[6], ARGV[6] .. ':ls', ARGV[6] .. ':d') end
if device ~= '' then redis.call('HSET', KEYS[1], ARGV[2] .. ':d', device) end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
local raw = redis.pcall('GET', KEYS[2])
local gen = generation_of(raw)
if not gen then
  gen = tonumber(ARGV[9])
  redis.call('SET', KEYS[2], ARGV[9])
  tell(KEYS[2])
end
local keep = math.max(ttl, tonumber(ARGV[7]))
if redis.call('PTTL', KEYS[2]) < keep then redis.call('PEXPIRE', KEYS[2], keep) end
local cap, dropped = tonumber(ARGV[10]), {ARGV[1], gen}
if cap > 0 and redis.call('HLEN', KEYS[1]) > cap then
  local flat, seen, sids = redis.call('HGETALL', KEYS[1]), {}, {}
  for i = 1, #flat, 2 do
    local f = flat[i]
    if string.sub(f, -3) == ':ls' then seen[string.sub(f, 1, -4)] = tonumber(flat[i + 1]) or 0
    elseif not string.find(f, ':', 1, true) and f ~= ARGV[2] then sids[#sids + 1] = f end
  end
  local over = math.min(#sids + 1 - cap, 16)
  if over > 0 then
    table.sort(sids, function(a, b) return (seen[a] or 0) < (seen[b] or 0) end)
    for i = 1, over do
      redis.call('HDEL', KEYS[1], sids[i], sids[i] .. ':ls', sids[i] .. ':d')
      dropped[#dropped + 1] = sids[i]
    end
  end
end
return dropped
""",
)

#: KEYS: index, generation. ARGV: nonce, sid, now, the token's generation.
#: The user part of CHECK where it runs beside (a cluster keeps the user's
#: keys in another slot): {nonce, -1} when the generation is missing or not
#: the token's, else {nonce, 0}; touches last seen at most once a minute.
USER_CHECK: t.Final = Script(
    "user_check",
    writes=False,
    source=_FUNCTIONS
    + """
local stored = generation_of(redis.pcall('GET', KEYS[2]))
if not stored or stored ~= tonumber(ARGV[4]) then return {ARGV[1], -1} end
local field = ARGV[2] .. ':ls'
local seen = redis.pcall('HGET', KEYS[1], field)
seen = type(seen) == 'string' and tonumber(seen)
if seen and tonumber(ARGV[3]) >= seen + 60000 then redis.call('HSET', KEYS[1], field, ARGV[3]) end
return {ARGV[1], 0}
""",
)

#: KEYS: user mark, tombstone. ARGV: nonce, user tag, TTL in ms.
#: Sets the proof that a sid belongs to its user, unless the sid was ended
#: meanwhile (a parallel logout): returns {nonce, 1} set, {nonce, 0} refused.
SET_MARK: t.Final = Script(
    "set_mark",
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return {ARGV[1], 0} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {ARGV[1], 1}
""",
)

#: KEYS: index. ARGV: nonce, sid. Drops one session from its user's index (an
#: index of another type holds no session).
USER_DROP: t.Final = Script(
    "user_drop",
    revokes=True,
    source="""
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {ARGV[1], 0} end
return {ARGV[1], redis.call('HDEL', KEYS[1], ARGV[2], ARGV[2] .. ':ls', ARGV[2] .. ':d')}
""",
)

#: KEYS: index, generation, a new name for the index. ARGV: nonce, generation
#: TTL in ms, a new generation. Log out everywhere: the generation changes
#: first (every credential from an earlier login dies, listed or not), then
#: the index is renamed away (O(1), whatever its size) for the caller to read
#: in slices and unlink; the new name lives 10 minutes at most. Returns
#: {nonce, 1} renamed, {nonce, 0} no index. An index of another type fails
#: the call after the change (its sessions cannot be listed; they are dead all
#: the same).
USER_REVOKE: t.Final = Script(
    "user_revoke",
    revokes=True,
    source=_TELL
    + """
redis.call('SET', KEYS[2], ARGV[3])
tell(KEYS[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return {ARGV[1], 0} end
if kind ~= 'hash' then return redis.error_reply('WRONGTYPE the user index is not a hash') end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('PEXPIRE', KEYS[3], 600000)
return {ARGV[1], 1}
""",
)

#: KEYS: naming key. ARGV: nonce, sealed candidate.
#: The first process stores its candidate; every process reads the winner.
#: The key has no TTL: it names keys as long as they live. Returns {nonce,
#: the stored key, 1 if this call created it}.
NAMING_KEY: t.Final = Script(
    "naming_key",
    """
local created = redis.call('SET', KEYS[1], ARGV[2], 'NX') and 1 or 0
redis.call('PERSIST', KEYS[1])
return {ARGV[1], redis.call('GET', KEYS[1]), created}
""",
)

#: Every script above, loaded all at once when Redis lacks one.
ALL: t.Final = tuple(script for script in tuple(globals().values()) if isinstance(script, Script))
