-- renew: ARGV[1] lease TTL (ms), ARGV[2..] ids of leases whose calls still run here.
-- XX: a lease already reaped stays gone (its settlement then charges only the use).
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[2], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i])
end
return renewed
