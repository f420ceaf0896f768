/**
 * The Redis store's scripts. Each runs atomically in Redis, which is what makes reserve and
 * settle single steps across every replica. Per bucket key K:
 *   K    hash  { spend, reserved, seed }   (its existence means "known": seeded from the ledger,
 *              read in the PostgreSQL snapshot `seed`)
 *   K:r  zset  reservation id -> expiry (ms)
 *   K:a  hash  reservation id -> amount
 *   K:u  hash  reservation ids of requests admitted without the store, charged
 *   K:c  hash  request ids charged late (LATE_CHARGE)
 * All expire a day after the bucket's period ends.
 */

const PURGE_EXPIRED = `
local function purge(k, now)
  local expired = redis.call('ZRANGEBYSCORE', k .. ':r', '-inf', now)
  if #expired == 0 then return end
  local amounts = redis.call('HMGET', k .. ':a', unpack(expired))
  local total = 0
  for j = 1, #amounts do total = total + (tonumber(amounts[j]) or 0) end
  redis.call('HINCRBY', k, 'reserved', -total)
  redis.call('ZREM', k .. ':r', unpack(expired))
  redis.call('HDEL', k .. ':a', unpack(expired))
end

-- Returns up to \`by\` of a reservation (all of it when by is nil); one that reaches zero is gone.
local function shrink(k, id, by)
  local amount = tonumber(redis.call('HGET', k .. ':a', id) or '-1')
  if amount < 0 then return end
  local take = amount
  if by and by < amount then take = by end
  redis.call('HINCRBY', k, 'reserved', -take)
  if amount - take <= 0 then
    redis.call('HDEL', k .. ':a', id)
    redis.call('ZREM', k .. ':r', id)
  else
    redis.call('HSET', k .. ':a', id, amount - take)
  end
end
`;

/**
 * KEYS: bucket keys. ARGV: id, now, ttl, then per bucket: block line, amount, wanted, retain-until (ms).
 * Returns {0, unknown indexes...} | {1, refused index, spend1, reserved1, ...}
 * | {2, spend1, reserved1, granted1, ...}. The grant follows budget/lease.ts (a quarter of the headroom).
 */
export const RESERVE = `${PURGE_EXPIRED}
local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local unknown = {0}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then unknown[#unknown + 1] = i - 1 end
end
if #unknown > 1 then return unknown end
local states, refused = {}, -1
for i = 1, #KEYS do
  purge(KEYS[i], now)
  local spend = tonumber(redis.call('HGET', KEYS[i], 'spend') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  states[#states + 1] = spend
  states[#states + 1] = reserved
  if refused < 0 and spend + reserved >= tonumber(ARGV[4 + (i - 1) * 4]) then refused = i - 1 end
end
if refused >= 0 then return {1, refused, unpack(states)} end
local admitted = {2}
for i = 1, #KEYS do
  local base = 4 + (i - 1) * 4
  local k, line, amount, wanted, retain = KEYS[i], tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), ARGV[base + 3]
  local spend, reserved = states[i * 2 - 1], states[i * 2]
  local granted = amount
  if wanted > amount then
    local share = math.floor((line - spend - reserved) / 4)
    if share >= wanted then granted = wanted elseif share > amount then granted = share end
  end
  redis.call('HINCRBY', k, 'reserved', granted)
  redis.call('ZADD', k .. ':r', now + ttl, id)
  redis.call('HSET', k .. ':a', id, granted)
  redis.call('PEXPIREAT', k .. ':r', retain)
  redis.call('PEXPIREAT', k .. ':a', retain)
  admitted[#admitted + 1] = spend
  admitted[#admitted + 1] = reserved
  admitted[#admitted + 1] = granted
end
return admitted
`;

/**
 * Settles a batch of requests (those finished within a few milliseconds) in one script: fewer
 * script runs in Redis and fewer commands in the gateway, the same atomicity per request (the
 * whole batch is one atomic step).
 *
 * The gateway sends the batch already summed per bucket and reservation (a group): the settles of
 * one lease mostly hit the same buckets, and returning reservations and charging spend add up, so
 * the group's sums leave Redis as its settles one by one would. A replay (charged only where the
 * bucket still holds the reservation) is a group of its own, in its place among the others, so
 * that check sees what the settles before it left. Every usage event of the batch goes into one
 * stream entry (`e` fields, one event each), and the count of events waiting is kept beside it.
 *
 * A request admitted without the store (fail-open) holds no reservation, so whether its charge
 * went in is kept beside the bucket instead (`K:u`, reservation ids), and a replay of it is
 * charged only in the generation of the store's data it was first sent in (KEYS[3]; a Redis that
 * came back empty has a new one, and its buckets were rebuilt from the ledger).
 *
 * KEYS: the usage stream, its count of waiting events, the store's generation. ARGV: groups, then
 * per group: bucket key, reservation id, mode ('0': a settle; '1': a replay, charged only if the
 * bucket still holds the reservation; 'u': a request admitted without the store, charged once;
 * 'u:<generation>': its replay), amount to charge, reservation to return; then the stream
 * entry's fields ('e', event, 'e', event...).
 * Returns, per group, its bucket's spend before the batch, or -1 where the bucket is unknown (its
 * seed comes from the ledger); then the numbers of the groups not charged although their bucket is
 * known (a replay into a bucket that no longer holds it, a request charged already). The gateway
 * adds each settle's charges to that in order for the spend each left behind.
 *
 * Each bucket's state is read once, the groups are applied in order to that copy, and what changed
 * is written back once at the end: a call into Redis from Lua costs more than the arithmetic it
 * replaces. Nothing between the read and the write-back can see the copy: the script is atomic.
 */
export const SETTLE = `
local known, base, spend, reserved, held, touched = {}, {}, {}, {}, {}, {}
local function isKnown(k)
  local v = known[k]
  if v == nil then
    v = redis.call('EXISTS', k) == 1
    known[k] = v
  end
  return v
end
-- What reservation id holds in bucket k (false: none), read once per batch.
local function holding(k, id)
  local h = held[k]
  if h == nil then h = {}; held[k] = h end
  local v = h[id]
  if v == nil then
    v = redis.call('HGET', k .. ':a', id)
    v = v and tonumber(v) or false
    h[id] = v
    touched[#touched + 1] = {k, id, v}
  end
  return v
end
local out, skipped, at = {}, {}, 2
for g = 1, tonumber(ARGV[1]) do
  local k, id, mode, amount, release = ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  at = at + 5
  local charge
  if mode == '0' or mode == '1' then
    charge = isKnown(k) and (mode == '0' or holding(k, id))
    -- Returns up to release of the reservation; one that reaches zero is gone.
    local left = charge and holding(k, id)
    if left and left >= 0 then
      local take = left
      if release < left then take = release end
      reserved[k] = (reserved[k] or 0) - take
      if left - take <= 0 then held[k][id] = false else held[k][id] = left - take end
    end
  else
    charge = isKnown(k) and (mode == 'u' or redis.call('GET', KEYS[3]) == string.sub(mode, 3))
      and redis.call('HSETNX', k .. ':u', id, 1) == 1
    if charge then
      local ttl = redis.call('PTTL', k)
      if ttl > 0 then redis.call('PEXPIRE', k .. ':u', ttl) end
    end
  end
  if charge or isKnown(k) then
    if base[k] == nil then
      base[k] = tonumber(redis.call('HGET', k, 'spend') or '0')
      spend[k] = 0
    end
    if charge then spend[k] = spend[k] + amount else skipped[#skipped + 1] = g end
    out[g] = base[k]
  else
    out[g] = -1
  end
end
for _, g in ipairs(skipped) do out[#out + 1] = g end
local fields = #ARGV - at + 1
if fields > 0 then
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, at))
  redis.call('INCRBY', KEYS[2], fields / 2)
end
for k, total in pairs(spend) do
  if total ~= 0 then redis.call('HINCRBY', k, 'spend', total) end
end
for k, total in pairs(reserved) do
  if total ~= 0 then redis.call('HINCRBY', k, 'reserved', total) end
end
for _, t in ipairs(touched) do
  local k, id, before = t[1], t[2], t[3]
  local now = held[k][id]
  if before and not now then
    redis.call('HDEL', k .. ':a', id)
    redis.call('ZREM', k .. ':r', id)
  elseif now and now ~= before then
    redis.call('HSET', k .. ':a', id, now)
  end
end
return out
`;

/**
 * The ledger consumer wrote these entries of the usage stream: acknowledge and delete them, and
 * take their events off the count of those waiting, each entry once (another consumer may have
 * written and deleted it too, after taking it over).
 * KEYS: the usage stream, its count of waiting events. ARGV: the consumer group, then per entry:
 * its id and how many events it held.
 */
export const ACKNOWLEDGE = `
local written = 0
for i = 2, #ARGV, 2 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then written = written + tonumber(ARGV[i + 1]) end
end
if written > 0 then redis.call('DECRBY', KEYS[2], written) end
return written
`;

/** KEYS: bucket keys. ARGV: id, then the amount to return per bucket (none: all of each). */
export const RELEASE = `${PURGE_EXPIRED}
for i = 1, #KEYS do shrink(KEYS[i], ARGV[1], tonumber(ARGV[i + 1])) end
return 1
`;

/**
 * Moves the expiry of reservations still held to a later time (requests still running).
 * ARGV: the new expiry (ms), then per reservation and bucket: bucket key, reservation id.
 */
export const RENEW = `
for i = 2, #ARGV, 2 do
  redis.call('ZADD', ARGV[i] .. ':r', 'XX', 'GT', ARGV[1], ARGV[i + 1])
end
return 1
`;

/**
 * Puts back a reservation of requests still in flight after Redis lost its data: the bucket,
 * rebuilt from the ledger, knows nothing of them, and would lend their room again. Unconditional
 * (they were admitted already) and once per reservation id; a bucket not rebuilt yet is skipped.
 * KEYS: bucket keys. ARGV: id, now, ttl, then per bucket: amount, retain-until (ms).
 * Returns, per bucket, 1 where it was put back.
 */
export const RESTORE = `
local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local k, amount, retain = KEYS[i], tonumber(ARGV[2 + i * 2]), ARGV[3 + i * 2]
  out[i] = 0
  if amount > 0 and redis.call('EXISTS', k) == 1 and redis.call('HSETNX', k .. ':a', id, amount) == 1 then
    redis.call('HINCRBY', k, 'reserved', amount)
    redis.call('ZADD', k .. ':r', now + ttl, id)
    redis.call('PEXPIREAT', k .. ':r', retain)
    redis.call('PEXPIREAT', k .. ':a', retain)
    out[i] = 1
  end
end
return out
`;

/**
 * Names the data Redis holds (SettleOptions.unreserved): set once, it lasts as long as that data,
 * and a Redis that came back empty gets a new one from the first replica to ask, ending with
 * when it was made ('@' and Redis's clock in ms).
 * KEYS: the generation. ARGV: a new name, kept only if there is none yet. Returns the generation
 * and Redis's clock now (ms).
 */
export const GENERATION = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1] .. '@' .. now, 'NX')
return {redis.call('GET', KEYS[1]), now}
`;

/**
 * KEYS: bucket. ARGV: spend, retain-until (ms), the ledger snapshot the spend was read in (kept as
 * the bucket's `seed`; '' for none). Known buckets keep their counters.
 */
export const SEED = `
if redis.call('HSETNX', KEYS[1], 'spend', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'reserved', 0, 'seed', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`;

/**
 * Charges a request whose settle found its bucket unknown, once its usage is in the ledger and
 * the bucket's seed is known not to hold it: only while the bucket is still the one seeded then
 * (`seed`), and once per request (`K:c`, request ids, kept as long as the bucket).
 * KEYS: bucket. ARGV: request id, amount, the seed's snapshot.
 * Returns 1 if charged, 0 if charged before, -1 if the bucket is unknown or seeded anew.
 */
export const LATE_CHARGE = `
if redis.call('HGET', KEYS[1], 'seed') ~= ARGV[3] then return -1 end
if redis.call('HSETNX', KEYS[1] .. ':c', ARGV[1], 1) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'spend', ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1] .. ':c', ttl) end
return 1
`;
