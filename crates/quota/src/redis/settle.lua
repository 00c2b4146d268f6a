-- settle: ARGV[1] lease record, then (per_minute, reserved, used) per debit, KEYS[2..]
-- the debits' buckets. A live lease gives back reserved - used (or charges the excess); a
-- lease already reaped (this instance stalled past its TTL) was refunded whole, so only
-- the use is charged. Returns the level after × 1000 per debit (truncated).
reap()
local live = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
local n = (#ARGV - 1) / 3
local raw = redis.call('MGET', unpack(KEYS, 2, n + 1))
local levels, caps, dirty, order = {}, {}, {}, {}
for i = 0, n - 1 do
  local k, cap = KEYS[2 + i], tonumber(ARGV[2 + 3 * i])
  local reserved, used = tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
  if levels[k] == nil then
    levels[k], caps[k] = level_of(raw[1 + i], cap), cap
    order[#order + 1] = k
  end
  local delta = -used
  if live then delta = reserved - used end
  if delta ~= 0 then
    -- A refund never lifts a bucket above its capacity; a charge may take it below zero.
    levels[k] = math.min(cap, levels[k] + delta)
    dirty[k] = true
  end
end
for _, k in ipairs(order) do
  if dirty[k] then save(k, levels[k], caps[k]) end
end
local out = {}
for i = 0, n - 1 do out[#out + 1] = math.floor(levels[KEYS[2 + i]] * 1000) end
return out
