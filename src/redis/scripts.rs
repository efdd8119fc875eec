//! The Lua scripts behind every store operation that must be atomic.
//!
//! Each script runs as one step on the Redis server, so checks and writes cannot interleave
//! with another replica's. Numbers go to Redis through `num`, never as raw Lua numbers, which
//! Redis would format with 14 significant digits. Times (`now`, deadlines) always come from the
//! engine's clock as arguments, never from Redis's `TIME`, so expiry follows the injected clock.
//!
//! Every key of a session also carries a Redis TTL, as a backstop only: should no replica sweep
//! the session (every one of them stopped), Redis removes its keys by itself a margin after the
//! deadline the engine decided. The TTL is relative (`PEXPIRE`, counted on Redis's clock from
//! the script's run), so the engine's and Redis's clocks need not agree; the indexes a session
//! is in are kept at least as long, and are pruned of sessions Redis removed this way.
//!
//! Keys, for a store prefix `p` and session `S` (the `{S}` hash tag keeps a session's keys in
//! one slot):
//! - `p:{S}` HASH, the record: `own` (a digest of the owner), `tk` (its tenant index key),
//!   `cr` (created, ms), `seen` (ms), `used`, `held` (how many replicas hold it), `h:<node>`
//!   for each replica holding it, `ver` (of the application state), `ns` (next stream
//!   number), `bx` (the engine-clock time, ms, its keys' backstop TTL was last set to reach),
//!   and per stream `n`: `q:n` (latest seq),
//!   `f:n` (finished), `b:n` (bytes retained), and while it is unfinished `o:n` (the node
//!   producing it) and `r:n` (the ids of the requests it answers, JSON). Every value is
//!   short, so Redis keeps the hash in its compact listpack form (`hash-max-listpack-value`,
//!   64 bytes by default; a batch of many requests may pass it);
//! - `p:{S}:d` STRING, the application state as JSON (kept out of the hash: it is longer);
//! - `p:{S}:l` ZSET of the stream numbers that have a log, scored by number;
//! - `p:{S}:l:n` STREAM, stream `n`'s log, one entry `0-<seq>` per event with field `d`;
//! - `p:dl` ZSET of every session, scored by a time (ms) never later than its deadline (a
//!   touch leaves it behind; the sweep that finds it due scores it anew), and
//!   `p:t:<digest of the tenant>` SET of a tenant's session ids;
//! - `p:node:<node>` STRING, a replica's lease: the engine-clock time (ms) until which it lives;
//!   `p:nodes` ZSET, every replica scored by the same time, so that the replicas that died can
//!   be found; `p:holds:<node>` SET, the sessions a replica holds, so that the holds of one that
//!   died can be released;
//! - `p:ctl` STREAM, the control messages between replicas (see `bus.rs`), and the pub/sub
//!   channel `p:bell`, on which every append and finish rings `<node> <session> <stream>`.

use redis::Script;

/// Shared helpers, prepended to every script.
const PRELUDE: &str = r#"
local function num(x) return string.format('%d', x) end

-- A session's deadline from its created and last-seen times (ms), whether it was used, how many
-- processes hold it, and the policy (idle, absolute, init in ms).
local function deadline_of(cr, seen, used, held, idle, absolute, init)
  local hard = cr + absolute
  if held > 0 then return hard end
  local soft
  if used then soft = seen + idle else soft = cr + math.min(init, idle) end
  return math.min(soft, hard)
end

-- The session's deadline, read from its record.
local function deadline(rec, idle, absolute, init)
  local f = redis.call('HMGET', rec, 'cr', 'seen', 'used', 'held')
  return deadline_of(tonumber(f[1]), tonumber(f[2]), f[3] == '1', tonumber(f[4] or '0'), idle, absolute, init)
end

-- Removes a session: its record, logs, stream index and index entries; and tells every replica
-- (the one removing it too) on the control stream, in the same atomic step, so that no replica
-- keeps what it holds of the session because the process removing it stopped right after. The
-- message is `Control::Ended` as serde writes it, from no node (so every replica acts on it),
-- and the stream is kept as long as `bus::CONTROL_RETAINED` says.
local function drop(rec, dl, id)
  local prefix = string.sub(rec, 1, #rec - #id - 3)
  redis.call('XADD', prefix .. ':ctl', 'MAXLEN', '~', 10000, '*', 'n', '', 'm',
    '{"kind":"ended","session":"' .. id .. '"}')
  local tk = redis.call('HGET', rec, 'tk')
  if tk then redis.call('SREM', tk, id) end
  for _, field in ipairs(redis.call('HKEYS', rec)) do
    if string.sub(field, 1, 2) == 'h:' then redis.call('SREM', prefix .. ':holds:' .. string.sub(field, 3), id) end
  end
  redis.call('ZREM', dl, id)
  local logs = rec .. ':l'
  for _, n in ipairs(redis.call('ZRANGE', logs, 0, -1)) do
    redis.call('DEL', logs .. ':' .. n)
  end
  redis.call('DEL', logs, rec, rec .. ':d')
end

-- Keeps `key`, made after the record, as long as the record: it takes the record's TTL.
local function keep_with(rec, key)
  if redis.call('PTTL', key) == -1 then
    local ttl = redis.call('PTTL', rec)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
end

-- Keeps an index for at least `ttl` ms: an index outlives the keys of every session in it.
-- Extended to twice that, so that the sessions made or touched next mostly find it kept long
-- enough already and cost one read here.
local function outlive(key, ttl)
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, num(2 * ttl)) end
end

-- Sets the backstop TTL of every key of the session to `margin` ms past its deadline `d`
-- (engine-clock ms, as `now`), given the record's fields `bx` and `tk` as the caller read them.
-- Extended only once the deadline has moved more than half the margin past what the keys were
-- last given, so most touches cost nothing here, and the keys still never expire before
-- `margin / 2` past the deadline.
local function extend_backstop(rec, dl, now, d, margin, bx, tk)
  local keep = d + margin
  if keep - tonumber(bx or '0') <= margin / 2 then return end
  redis.call('HSET', rec, 'bx', num(keep))
  local ttl = math.max(keep - now, 1)
  redis.call('PEXPIRE', rec, ttl)
  redis.call('PEXPIRE', rec .. ':d', ttl)
  local logs = rec .. ':l'
  if redis.call('PEXPIRE', logs, ttl) == 1 then
    for _, n in ipairs(redis.call('ZRANGE', logs, 0, -1)) do redis.call('PEXPIRE', logs .. ':' .. n, ttl) end
  end
  outlive(dl, ttl)
  if tk then outlive(tk, ttl) end
end

-- `extend_backstop`, reading the fields it needs.
local function backstop(rec, dl, now, d, margin)
  local f = redis.call('HMGET', rec, 'bx', 'tk')
  extend_backstop(rec, dl, now, d, margin, f[1], f[2])
end

-- Ends replica `node`'s hold on the session, if it has one, at `at`: its idle timeout starts
-- then unless another replica holds it too. Returns whether there was a hold to end.
local function release(rec, node, at)
  if redis.call('HDEL', rec, 'h:' .. node) == 0 then return false end
  local f = redis.call('HMGET', rec, 'held', 'seen')
  redis.call('HSET', rec, 'held', num(math.max(tonumber(f[1] or '1') - 1, 0)),
    'seen', num(math.max(tonumber(f[2]), at)))
  return true
end

-- The record key of session `id` under the same prefix as record `rec` of session `of`.
local function sibling(rec, of, id)
  return string.sub(rec, 1, #rec - #of - 1) .. id .. '}'
end

-- Appends payload to stream n's log as its next message, trimming the oldest to stay within the
-- limits, and rings the doorbell. Returns the message's sequence number.
local function append_event(rec, log, n, payload, max_events, max_bytes, overhead, channel, bell)
  local seq = redis.call('HINCRBY', rec, 'q:' .. n, 1)
  redis.call('XADD', log, '0-' .. num(seq), 'd', payload)
  keep_with(rec, log)
  local bytes = redis.call('HINCRBY', rec, 'b:' .. n, #payload + overhead)
  local len = redis.call('XLEN', log)
  while len > max_events or (bytes > max_bytes and len > 0) do
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', log, oldest[1])
    bytes = bytes - (#oldest[2][2] + overhead)
    len = len - 1
  end
  redis.call('HSET', rec, 'b:' .. n, num(bytes))
  redis.call('PUBLISH', channel, bell .. ' ' .. n)
  return seq
end

-- The earliest deadline ('' when none) and the number of sessions.
local function summary(dl)
  local first = redis.call('ZRANGE', dl, 0, 0, 'WITHSCORES')
  local earliest = ''
  if first[2] then earliest = first[2] end
  return {earliest, redis.call('ZCARD', dl)}
end
"#;

/// KEYS: rec, dl, tenant set. ARGV: id, owner, tenant key, created, last seen, used (1/0), data,
/// deadline, max sessions (-1: none), max per tenant (-1: none), backstop margin.
/// Returns {code, count}: 0 created, 1 duplicate, 2 total cap, 3 tenant cap; the number of
/// sessions (0 when a duplicate). The new session's keys are written with their backstop TTL.
/// A tenant at its cap is first pruned of sessions whose keys Redis removed by their backstop
/// (which no sweep saw, so nothing else takes them out of the set): a cost of O(cap) paid only
/// at the cap. Stale deadline entries need no pruning: the next sweep removes them.
const CREATE: &str = r#"
local rec, dl, tk = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
if redis.call('EXISTS', rec) == 1 then return {1, 0} end
local max, per = tonumber(ARGV[9]), tonumber(ARGV[10])
local count = redis.call('ZCARD', dl)
if max >= 0 and count >= max then return {2, count} end
if per >= 0 and redis.call('SCARD', tk) >= per then
  for _, other in ipairs(redis.call('SMEMBERS', tk)) do
    if redis.call('EXISTS', sibling(rec, id, other)) == 0 then redis.call('SREM', tk, other) end
  end
  if redis.call('SCARD', tk) >= per then return {3, count} end
end
local keep = tonumber(ARGV[8]) + tonumber(ARGV[11])
local ttl = math.max(keep - math.max(tonumber(ARGV[4]), tonumber(ARGV[5])), 1)
redis.call('HSET', rec, 'own', ARGV[2], 'tk', ARGV[3], 'cr', ARGV[4], 'seen', ARGV[5], 'used', ARGV[6],
  'held', '0', 'ver', '0', 'ns', '1', 'bx', num(keep))
redis.call('PEXPIRE', rec, num(ttl))
redis.call('SET', rec .. ':d', ARGV[7], 'PX', num(ttl))
redis.call('ZADD', dl, ARGV[8], id)
redis.call('SADD', tk, id)
outlive(dl, ttl)
outlive(tk, ttl)
return {0, count + 1}
"#;

/// KEYS: rec, dl. ARGV: id, owner, now, idle, absolute, init, backstop margin.
/// Returns {code, ...}: {0, created, seen, data, version} found and touched; {1} unknown;
/// {2, earliest, count} expired (and removed); {3} another owner's.
///
/// The lookup is on every request's path, and every command a script runs costs Redis a few
/// microseconds whatever it does, so a touch runs three: one read of the record, one write of
/// it, one read of the state. It leaves the deadline index alone: a touch only ever moves the
/// deadline later, and the index holds a bound that is never later than the deadline, which the
/// sweep that finds it due corrects (EXPIRE).
const LOOKUP: &str = r#"
local rec, dl, id = KEYS[1], KEYS[2], ARGV[1]
local now, idle, absolute, init = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local f = redis.call('HMGET', rec, 'cr', 'seen', 'used', 'held', 'own', 'bx', 'tk', 'ver')
if not f[1] then return {1} end
local cr, seen, held = tonumber(f[1]), tonumber(f[2]), tonumber(f[4] or '0')
if deadline_of(cr, seen, f[3] == '1', held, idle, absolute, init) <= now then
  drop(rec, dl, id)
  local s = summary(dl)
  return {2, s[1], s[2]}
end
if f[5] ~= ARGV[2] then return {3} end
seen = math.max(seen, now)
redis.call('HSET', rec, 'seen', num(seen), 'used', '1')
local due = deadline_of(cr, seen, true, held, idle, absolute, init)
extend_backstop(rec, dl, now, due, tonumber(ARGV[7]), f[6], f[7])
return {0, f[1], num(seen), redis.call('GET', rec .. ':d'), f[8]}
"#;

/// KEYS: rec. Returns {version, data}, or {} for an unknown session.
const READ_STATE: &str = r#"
local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then return {} end
return {ver, redis.call('GET', KEYS[1] .. ':d')}
"#;

/// KEYS: rec. ARGV: expected version, new data. Returns 0 written, 1 unknown, 2 changed since read.
const UPDATE: &str = r#"
local rec = KEYS[1]
local ver = redis.call('HGET', rec, 'ver')
if not ver then return 1 end
if ver ~= ARGV[1] then return 2 end
redis.call('SET', rec .. ':d', ARGV[2], 'KEEPTTL')
redis.call('HINCRBY', rec, 'ver', 1)
return 0
"#;

/// KEYS: rec, dl. ARGV: id. Returns {existed, earliest, count}.
const REMOVE: &str = r#"
local rec, dl = KEYS[1], KEYS[2]
local existed = redis.call('EXISTS', rec)
if existed == 1 then drop(rec, dl, ARGV[1]) end
local s = summary(dl)
return {existed, s[1], s[2]}
"#;

/// KEYS: rec, logs. ARGV: max streams per session, producing node, the ids the stream answers
/// (a JSON array; `[]` records no producer).
/// Returns {0, n} opened; {1} unknown session; {2} too many streams (or numbers exhausted).
const OPEN_STREAM: &str = r#"
local rec, logs = KEYS[1], KEYS[2]
local n = redis.call('HGET', rec, 'ns')
if not n then return {1} end
n = tonumber(n)
if n >= 4294967295 then return {2} end
if redis.call('ZCARD', logs) >= tonumber(ARGV[1]) then
  -- Request streams are numbered in creation order: the first finished one is the oldest.
  local victim = nil
  for _, m in ipairs(redis.call('ZRANGE', logs, 0, -1)) do
    if m ~= '0' and redis.call('HEXISTS', rec, 'f:' .. m) == 1 then victim = m; break end
  end
  if not victim then return {2} end
  redis.call('DEL', logs .. ':' .. victim)
  redis.call('ZREM', logs, victim)
  redis.call('HDEL', rec, 'q:' .. victim, 'f:' .. victim, 'b:' .. victim, 'o:' .. victim, 'r:' .. victim)
end
redis.call('HSET', rec, 'ns', num(n + 1), 'q:' .. num(n), '0', 'b:' .. num(n), '0')
if ARGV[3] ~= '[]' then redis.call('HSET', rec, 'o:' .. num(n), ARGV[2], 'r:' .. num(n), ARGV[3]) end
redis.call('ZADD', logs, num(n), num(n))
keep_with(rec, logs)
return {0, n}
"#;

/// KEYS: rec, logs, log. ARGV: stream, payload, max events, max bytes, per-event overhead,
/// doorbell channel, doorbell (`<node> <session>`; the stream number is appended).
/// Returns {0, seq} appended; {1} unknown session; {2} unknown stream; {3} finished.
const APPEND: &str = r#"
local rec, logs, log, n = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
if redis.call('EXISTS', rec) == 0 then return {1} end
if not redis.call('ZSCORE', logs, n) then
  if n ~= '0' then return {2} end
  redis.call('ZADD', logs, 0, '0')
  keep_with(rec, logs)
end
if redis.call('HEXISTS', rec, 'f:' .. n) == 1 then return {3} end
local seq = append_event(rec, log, n, ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7])
return {0, seq}
"#;

/// KEYS: rec, logs. ARGV: stream, doorbell channel, doorbell (as for APPEND).
/// Returns 0 finished; 1 unknown session; 2 unknown stream.
const FINISH: &str = r#"
local rec, logs, n = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', rec) == 0 then return 1 end
if not redis.call('ZSCORE', logs, n) then return 2 end
redis.call('HSET', rec, 'f:' .. n, '1')
redis.call('HDEL', rec, 'o:' .. n, 'r:' .. n)
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. n)
return 0
"#;

/// KEYS: rec, logs, log. ARGV: stream, now, lease key prefix, error message, max events,
/// max bytes, per-event overhead, doorbell channel, doorbell.
/// If stream n is unfinished and the lease of the node producing it ended before `now`, appends
/// one JSON-RPC error for each request it answers whose response is not in the log already (a
/// producer may die between its last response and the stream's end), finishes it and rings the
/// bell. Returns the number of errors appended, or -1 when there was nothing to do. The lease
/// key is read without being named in KEYS (the node is known only from the record): fine on one
/// primary, which the store needs.
const ABANDON: &str = r#"
local rec, logs, log, n, now = KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2])
if redis.call('HEXISTS', rec, 'f:' .. n) == 1 then return -1 end
local f = redis.call('HMGET', rec, 'o:' .. n, 'r:' .. n)
if not f[1] then return -1 end
-- No lease at all: a replica that has not written its first one yet (or one gone for longer
-- than the key's backstop TTL); only a lease that ran out proves the producer dead.
local lease = redis.call('GET', ARGV[3] .. f[1])
if not lease or tonumber(lease) > now then return -1 end
-- The responses the producer logged before it stopped (ids keyed with their JSON type, so that
-- 7 and "7" stay apart).
local answered = {}
local function note(message)
  if type(message) == 'table' and message.method == nil and message.id ~= nil then
    answered[type(message.id) .. ':' .. tostring(message.id)] = true
  end
end
for _, entry in ipairs(redis.call('XRANGE', log, '-', '+')) do
  local ok, message = pcall(cjson.decode, entry[2][2])
  if ok then note(message) end
end
local errors = 0
for _, id in ipairs(cjson.decode(f[2])) do
  if not answered[type(id) .. ':' .. tostring(id)] then
    local payload = cjson.encode({jsonrpc = '2.0', id = id, error = {code = -32603, message = ARGV[4]}})
    append_event(rec, log, n, payload, tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9])
    errors = errors + 1
  end
end
redis.call('HSET', rec, 'f:' .. n, '1')
redis.call('HDEL', rec, 'o:' .. n, 'r:' .. n)
redis.call('PUBLISH', ARGV[8], ARGV[9] .. ' ' .. n)
return errors
"#;

/// KEYS: rec, logs, log. ARGV: stream, after.
/// Returns {0, latest, finished, id1, payload1, ...}; {1} unknown session; {2} unknown stream;
/// {3, latest} ahead of the stream.
const REPLAY: &str = r#"
local rec, logs, log, n, after = KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', rec) == 0 then return {1} end
if not redis.call('ZSCORE', logs, n) then
  if n ~= '0' then return {2} end
  if after > 0 then return {3, 0} end
  return {0, 0, 0}
end
local f = redis.call('HMGET', rec, 'q:' .. n, 'f:' .. n)
local latest = tonumber(f[1])
if after > latest then return {3, latest} end
local out = {0, latest, f[2] and 1 or 0}
local start = '-'
if after > 0 then start = '(0-' .. num(after) end
for _, entry in ipairs(redis.call('XRANGE', log, start, '+')) do
  out[#out + 1] = entry[1]
  out[#out + 1] = entry[2][2]
end
return out
"#;

/// KEYS: rec, dl, this replica's holds. ARGV: id, held (1/0), at, idle, absolute, init,
/// backstop margin, node. Returns {earliest, count}.
/// A replica's hold is counted once however often it is told, and a release finds nothing to
/// end once the hold was released for it (it was taken for dead while it was paused, or the
/// release is told twice); a release is a touch at its time all the same.
const SET_HELD: &str = r#"
local rec, dl, holds, id, node = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[8]
if redis.call('EXISTS', rec) == 1 then
  if ARGV[2] == '1' then
    if redis.call('HSETNX', rec, 'h:' .. node, '1') == 1 then redis.call('HINCRBY', rec, 'held', 1) end
    redis.call('SADD', holds, id)
  else
    if not release(rec, node, tonumber(ARGV[3])) then
      local seen = tonumber(redis.call('HGET', rec, 'seen'))
      if tonumber(ARGV[3]) > seen then redis.call('HSET', rec, 'seen', ARGV[3]) end
    end
    redis.call('SREM', holds, id)
  end
  local due = deadline(rec, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
  redis.call('ZADD', dl, num(due), id)
  backstop(rec, dl, tonumber(ARGV[3]), due, tonumber(ARGV[7]))
  if ARGV[2] == '1' then outlive(holds, redis.call('PTTL', rec)) end
end
return summary(dl)
"#;

/// KEYS: nodes, the replica's holds, dl. ARGV: node, now, prefix, idle, absolute, init,
/// backstop margin, batch.
/// If the replica's lease ran out by `now`, ends up to `batch` of its holds, each as of the
/// lease's end (the replica lived no later), and once it holds nothing takes it out of `nodes`.
/// Returns {released, holds left, earliest, count}; released is -1 while its lease runs. The
/// sessions' records are written without being named in KEYS (which sessions is known only
/// from the set): fine on one primary, which the store needs.
const REAP: &str = r#"
local nodes, holds, dl, node, now = KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2])
local lease = redis.call('ZSCORE', nodes, node)
if lease and tonumber(lease) > now then
  local s = summary(dl)
  return {-1, 0, s[1], s[2]}
end
local ended = now
if lease then ended = math.min(tonumber(lease), now) end
local released = 0
for _, id in ipairs(redis.call('SPOP', holds, tonumber(ARGV[8]))) do
  local rec = ARGV[3] .. ':{' .. id .. '}'
  if redis.call('EXISTS', rec) == 1 and release(rec, node, ended) then
    local due = deadline(rec, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
    redis.call('ZADD', dl, num(due), id)
    backstop(rec, dl, now, due, tonumber(ARGV[7]))
    released = released + 1
  end
end
local left = redis.call('SCARD', holds)
if left == 0 then redis.call('ZREM', nodes, node) end
local s = summary(dl)
return {released, left, s[1], s[2]}
"#;

/// KEYS: dl. ARGV: now, prefix, batch, idle, absolute, init.
/// Returns {earliest, count, examined, id...}: how many index entries were due, and the sessions
/// removed, in deadline order.
/// An entry's score is a bound never later than its session's deadline (a touch moves the
/// deadline, not the entry): each due entry is checked against the record, removed if its
/// session is due, else scored anew with the session's deadline. A session whose keys Redis
/// removed by their backstop is due at its entry's score.
const EXPIRE: &str = r#"
local dl, prefix, now = KEYS[1], ARGV[2], tonumber(ARGV[1])
local idle, absolute, init = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local entries = redis.call('ZRANGEBYSCORE', dl, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local due = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local f = redis.call('HMGET', prefix .. ':{' .. id .. '}', 'cr', 'seen', 'used', 'held')
  local d = tonumber(entries[i + 1])
  if f[1] then d = deadline_of(tonumber(f[1]), tonumber(f[2]), f[3] == '1', tonumber(f[4] or '0'), idle, absolute, init) end
  if d <= now then due[#due + 1] = {d, id} else redis.call('ZADD', dl, num(d), id) end
end
table.sort(due, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
for _, entry in ipairs(due) do drop(prefix .. ':{' .. entry[2] .. '}', dl, entry[2]) end
local s = summary(dl)
local out = {s[1], s[2], #entries / 2}
for _, entry in ipairs(due) do out[#out + 1] = entry[2] end
return out
"#;

/// KEYS: dl. Returns {earliest, count}.
const SUMMARY: &str = r#"
return summary(KEYS[1])
"#;

/// KEYS: tenant set. ARGV: prefix. Returns {id1, data1, ...}. A member whose keys Redis removed
/// by their backstop is taken out of the set.
const SESSIONS_OF: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local data = redis.call('GET', ARGV[1] .. ':{' .. id .. '}:d')
  if data then
    out[#out + 1] = id
    out[#out + 1] = data
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
"#;

/// Every script, loaded once per store.
#[derive(Debug)]
pub(super) struct Scripts {
    pub(super) create: Script,
    pub(super) lookup: Script,
    pub(super) read_state: Script,
    pub(super) update: Script,
    pub(super) remove: Script,
    pub(super) open_stream: Script,
    pub(super) append: Script,
    pub(super) finish: Script,
    pub(super) replay: Script,
    pub(super) abandon: Script,
    pub(super) set_held: Script,
    pub(super) reap: Script,
    pub(super) expire: Script,
    pub(super) sessions_of: Script,
    pub(super) summary: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            create: script(CREATE),
            lookup: script(LOOKUP),
            read_state: script(READ_STATE),
            update: script(UPDATE),
            remove: script(REMOVE),
            open_stream: script(OPEN_STREAM),
            append: script(APPEND),
            finish: script(FINISH),
            replay: script(REPLAY),
            abandon: script(ABANDON),
            set_held: script(SET_HELD),
            reap: script(REAP),
            expire: script(EXPIRE),
            sessions_of: script(SESSIONS_OF),
            summary: script(SUMMARY),
        }
    }
}
