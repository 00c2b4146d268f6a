-- renew: ARGV[1] lease TTL (ms), ARGV[2..] records of leases whose calls still run here.
-- XX: a lease already reaped stays gone (its settlement then charges only the use).
local renewed = 0
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + ttl, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl + 3600000)
return renewed
