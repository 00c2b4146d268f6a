-- Shared head of every script (reserve.lua, settle.lua, renew.lua are appended to it).
-- Every key belongs to one (account, source region) and shares its hash tag, so one
-- script touches one Redis Cluster slot:
--   KEYS[1] bucket states: hash, field "<scope>|rpm" / "<scope>|tpm" -> "level,updated_ms,capacity"
--   KEYS[2] lease expiries: sorted set, lease id -> expiry (ms on Redis's clock)
--   KEYS[3] lease contents: hash, lease id -> one "field\tper_minute\tamount\n" per debit
-- Time is Redis's own (TIME), never an instance's: instances with skewed clocks still
-- refill every bucket at the same rate.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

-- The level of a bucket now (the arithmetic of bucket.rs): continuous refill of
-- capacity/60 per second up to the capacity; a changed quota refills at the old rate up to
-- now and then caps at the new one. A bucket never seen is full.
local function level_of(field, cap)
  local s = redis.call('HGET', KEYS[1], field)
  if not s then return cap end
  local l, u, c = string.match(s, '^([^,]+),([^,]+),([^,]+)$')
  l, u, c = tonumber(l), tonumber(u), tonumber(c)
  local elapsed = now - u
  if elapsed < 0 then elapsed = 0 end
  l = math.min(c, l + elapsed * c / 60000)
  if cap ~= c then l = math.min(l, cap) end
  return l
end

-- %.17g round-trips a double exactly (tostring would keep 14 digits).
local function save(field, level, cap)
  redis.call('HSET', KEYS[1], field, string.format('%.17g,%.17g,%.17g', level, now, cap))
end

-- A refund never lifts a bucket above its capacity; a charge may take it below zero.
local function add(field, cap, delta)
  local l = math.min(cap, level_of(field, cap) + delta)
  save(field, l, cap)
  return l
end

-- Leases whose instance stopped renewing them (killed, partitioned): their reservation
-- goes back to the buckets, exactly as a release would.
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(expired) do
    local body = redis.call('HGET', KEYS[3], id)
    if body then
      for field, cap, amount in string.gmatch(body, '([^\t\n]+)\t([^\t\n]+)\t([^\t\n]+)\n') do
        add(field, tonumber(cap), tonumber(amount))
      end
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  end
end
