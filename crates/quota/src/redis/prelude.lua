-- Shared head of every script (reserve.lua, settle.lua, renew.lua are appended to it).
-- Every key belongs to one (account, source region) and shares its hash tag, so one
-- script touches one Redis Cluster slot:
--   KEYS[1]  "{tag}:leases": sorted set of lease records, score = expiry (ms on Redis's
--            clock), member = "<lease id>\n" then one "<field>\t<per_minute>\t<amount>\n"
--            per debit (built by the client, which sends it again to settle and renew)
--   KEYS[2..] "{tag}:bucket:<field>", one per debit in ARGV order: a bucket's state,
--            24 bytes: level, updated (ms), capacity as three little-endian doubles
--            (struct.pack: exact, and far cheaper than formatting and parsing text)
-- A bucket key expires one refill window after the bucket would be full again (renewed
-- by every write), so the buckets of deleted models, profiles and accounts go away; a
-- missing bucket reads full, which is what it would read by then anyway.
-- Time is Redis's own (TIME), never an instance's: instances with skewed clocks still
-- refill every bucket at the same rate.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

-- The level of a bucket now from its saved state (false: never seen or expired, full):
-- continuous refill of capacity/60 per second up to the capacity (the arithmetic of
-- bucket.rs); a changed quota refills at the old rate up to now and then caps at the new.
local function level_of(raw, cap)
  if not raw then return cap end
  local l, u, c = struct.unpack('<ddd', raw)
  local elapsed = now - u
  if elapsed < 0 then elapsed = 0 end
  l = math.min(c, l + elapsed * c / 60000)
  if cap ~= c then l = math.min(l, cap) end
  return l
end

-- The TTL: until full again (an overdrawn bucket takes longer than a minute) plus one
-- more refill window of margin.
local function save(key, level, cap)
  local ttl = 60000
  if cap > 0 then ttl = ttl + math.ceil((cap - level) * 60000 / cap) end
  if ttl > 1e12 then ttl = 1e12 end
  redis.call('SET', key, struct.pack('<ddd', level, now, cap), 'PX', ttl)
end

-- Leases whose instance stopped renewing them (killed, partitioned): their reservation
-- goes back to the buckets, exactly as a release would (a refund never lifts a bucket
-- above its capacity).
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
  if #expired == 0 then return end
  -- "{tag}:leases" -> "{tag}:bucket:", for the buckets named in the records.
  local bucket_base = string.sub(KEYS[1], 1, -7) .. 'bucket:'
  for _, rec in ipairs(expired) do
    for field, cap, amount in string.gmatch(rec, '([^\t\n]+)\t([^\t\n]+)\t([^\t\n]+)') do
      local key, c = bucket_base .. field, tonumber(cap)
      save(key, math.min(c, level_of(redis.call('GET', key), c) + tonumber(amount)), c)
    end
    redis.call('ZREM', KEYS[1], rec)
  end
end
