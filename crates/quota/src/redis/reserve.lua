-- reserve: ARGV[1] lease id, ARGV[2] lease TTL (ms), then (field, per_minute, amount) per
-- debit, then the floor (percent of each bucket the request must leave: its service
-- tier's). All or nothing: every bucket is checked before any is debited, and a bucket
-- named twice must cover the sum. Returns {1, level after, ...} (levels as strings, one per debit)
-- or {0, index of the first debit that did not fit}.
reap()
local n = (#ARGV - 3) / 3
local floor = tonumber(ARGV[#ARGV])
local levels, need, caps, order = {}, {}, {}, {}
for i = 0, n - 1 do
  local f, cap, amount = ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i]), tonumber(ARGV[5 + 3 * i])
  if levels[f] == nil then
    levels[f], need[f], caps[f] = level_of(f, cap), 0, cap
    order[#order + 1] = f
  end
  need[f] = need[f] + amount
  -- The same operations as memory.rs, so both stores decide alike on the last token.
  if levels[f] - need[f] < cap * floor / 100 then return {0, i} end
end
local body, out = {}, {1}
for _, f in ipairs(order) do save(f, levels[f] - need[f], caps[f]) end
for i = 0, n - 1 do
  local f = ARGV[3 + 3 * i]
  body[#body + 1] = f .. '\t' .. ARGV[4 + 3 * i] .. '\t' .. ARGV[5 + 3 * i] .. '\n'
  out[#out + 1] = string.format('%.17g', levels[f] - need[f])
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], table.concat(body))
return out
