/**
 * The Redis store's scripts. Each runs atomically in Redis, which is what makes reserve and
 * settle single steps across every replica. Per bucket key K:
 *   K    hash  { spend, reserved }   (its existence means "known": seeded from the ledger)
 *   K:r  zset  reservation id -> expiry (ms)
 *   K:a  hash  reservation id -> amount
 * All three expire a day after the bucket's period ends.
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
 * Settles every request of one tick in one script: fewer script runs in Redis and fewer commands
 * in the gateway, the same atomicity per request (the whole batch is one atomic step).
 * KEYS: the usage stream. ARGV: settles, then per settle: id, usage event, replay flag (1: charge
 * only buckets that still hold the reservation), bucket count, and per bucket: key, amount,
 * release. Returns, per settle and bucket in order, the spend after the charge, or -1 where the
 * bucket is unknown or, for a replay, no longer holds it (left alone: its seed came from the ledger).
 */
export const SETTLE = `${PURGE_EXPIRED}
local after, at = {}, 2
for _ = 1, tonumber(ARGV[1]) do
  local id, event, replay, buckets = ARGV[at], ARGV[at + 1], ARGV[at + 2] == '1', tonumber(ARGV[at + 3])
  at = at + 4
  for _ = 1, buckets do
    local k, amount, release = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
    at = at + 3
    if redis.call('EXISTS', k) == 1 and (not replay or redis.call('HEXISTS', k .. ':a', id) == 1) then
      shrink(k, id, release)
      after[#after + 1] = redis.call('HINCRBY', k, 'spend', amount)
    else
      after[#after + 1] = -1
    end
  end
  redis.call('XADD', KEYS[1], '*', 'e', event)
end
return after
`;

/** KEYS: bucket keys. ARGV: id, then the amount to return per bucket (none: all of each). */
export const RELEASE = `${PURGE_EXPIRED}
for i = 1, #KEYS do shrink(KEYS[i], ARGV[1], tonumber(ARGV[i + 1])) end
return 1
`;

/** KEYS: bucket. ARGV: spend, retain-until (ms). Known buckets keep their counters. */
export const SEED = `
if redis.call('HSETNX', KEYS[1], 'spend', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'reserved', 0)
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`;
