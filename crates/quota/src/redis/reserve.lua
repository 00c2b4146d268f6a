-- reserve: ARGV[1] lease record, ARGV[2] lease TTL (ms), then (per_minute, amount) per
-- debit, then the floor (percent of each bucket the request must leave: its service
-- tier's); KEYS[2..] the debits' buckets. All or nothing: every bucket is checked before
-- any is debited, and a bucket named twice must cover the sum. Returns {1, level after
-- × 1000, ...} (one per debit, truncated to an integer) or {0, index of the first debit
-- that did not fit}.
reap()
local n = (#ARGV - 3) / 2
local floor = tonumber(ARGV[#ARGV])
local raw = redis.call('MGET', unpack(KEYS, 2, n + 1))
local levels, need, caps, order = {}, {}, {}, {}
for i = 0, n - 1 do
  local k, cap, amount = KEYS[2 + i], tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  if levels[k] == nil then
    levels[k], need[k], caps[k] = level_of(raw[1 + i], cap), 0, cap
    order[#order + 1] = k
  end
  need[k] = need[k] + amount
  -- The same operations as memory.rs, so both stores decide alike on the last token.
  if levels[k] - need[k] < cap * floor / 100 then return {0, i} end
end
for _, k in ipairs(order) do save(k, levels[k] - need[k], caps[k]) end
local out = {1}
for i = 0, n - 1 do
  local k = KEYS[2 + i]
  out[#out + 1] = math.floor((levels[k] - need[k]) * 1000)
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
-- Left alone for an hour, the set goes: any reservation it still held has refilled.
redis.call('PEXPIRE', KEYS[1], ttl + 3600000)
return out
