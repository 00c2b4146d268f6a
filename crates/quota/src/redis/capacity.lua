-- capacity: one instance's report on its backends, and the others' in return.
--   KEYS[1] instance leases: sorted set, instance id -> expiry (ms on Redis's clock)
--   KEYS[2] loads: hash, instance id -> one "pool\tin_flight\tslots\n" per backend
--   KEYS[3] cool-downs: hash, pool -> until (ms on Redis's clock)
-- ARGV[1] instance id, ARGV[2] lease TTL (ms), then (pool, in_flight, slots, cooling_ms)
-- per backend; cooling_ms > 0 only for a cool-down that started at this instance.
-- Returns, per backend in ARGV order, {others' in-flight, others' slots, cool-down ms left}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, ttl = ARGV[1], tonumber(ARGV[2])
-- Instances that stopped reporting (killed): their load goes.
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], dead)
  redis.call('HDEL', KEYS[2], dead)
end
redis.call('ZADD', KEYS[1], now + ttl, me)
local body, pools = {}, {}
for i = 3, #ARGV, 4 do
  local pool, cooling = ARGV[i], tonumber(ARGV[i + 3])
  body[#body + 1] = pool .. '\t' .. ARGV[i + 1] .. '\t' .. ARGV[i + 2] .. '\n'
  pools[#pools + 1] = pool
  if cooling > 0 then
    local until_ms = tonumber(redis.call('HGET', KEYS[3], pool) or '0')
    if now + cooling > until_ms then redis.call('HSET', KEYS[3], pool, now + cooling) end
  end
end
redis.call('HSET', KEYS[2], me, table.concat(body))
local flight, slots = {}, {}
local all = redis.call('HGETALL', KEYS[2])
for j = 1, #all, 2 do
  if all[j] ~= me then
    for pool, f, s in string.gmatch(all[j + 1], '([^\t\n]+)\t(%d+)\t(%d+)\n') do
      flight[pool] = (flight[pool] or 0) + tonumber(f)
      slots[pool] = (slots[pool] or 0) + tonumber(s)
    end
  end
end
local out = {}
for _, pool in ipairs(pools) do
  local left = tonumber(redis.call('HGET', KEYS[3], pool) or '0') - now
  if left < 0 then left = 0 end
  out[#out + 1] = {flight[pool] or 0, slots[pool] or 0, left}
end
return out
