-- settle: ARGV[1] lease id, then (field, per_minute, reserved, used) per debit. A live
-- lease gives back reserved - used (or charges the excess); a lease already reaped (this
-- instance stalled past its TTL) was refunded whole, so only the use is charged. Returns
-- the level after, per debit, as strings.
reap()
local live = redis.call('ZREM', KEYS[2], ARGV[1]) == 1
redis.call('HDEL', KEYS[3], ARGV[1])
local out = {}
for i = 0, (#ARGV - 1) / 4 - 1 do
  local f, cap = ARGV[2 + 4 * i], tonumber(ARGV[3 + 4 * i])
  local reserved, used = tonumber(ARGV[4 + 4 * i]), tonumber(ARGV[5 + 4 * i])
  local delta = -used
  if live then delta = reserved - used end
  local l
  if delta ~= 0 then l = add(f, cap, delta) else l = level_of(f, cap) end
  out[#out + 1] = string.format('%.17g', l)
end
return out
