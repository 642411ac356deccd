-- A login. KEYS: user, session, index. ARGV: 1 session member, 2 client id,
-- 3 scope, 4 token hash, 5 now ms, 6 absolute expiry ms, 7 idle ttl ms,
-- 8 IP, 9 user agent, 10 maximum sessions per user, 11 session key prefix.
-- Returns 1 when created, 0 when refused. Beyond the maximum, the sessions
-- with the earliest expiry (other than the new one) are deleted.
local rb = revoked_before(KEYS[1])
local now = tonumber(ARGV[5])
if not rb or now <= rb then
  return 0
end
local expiry = math.min(now + tonumber(ARGV[7]), tonumber(ARGV[6]))
if expiry <= now then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'c', ARGV[2], 's', ARGV[3], 'g', 1, 'h', ARGV[4],
  'ct', ARGV[5], 'ci', ARGV[8], 'cu', ARGV[9], 'lt', ARGV[5], 'x', ARGV[6],
  'i', expiry)
redis.call('PEXPIRE', KEYS[2], expiry - now)
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
index_upkeep(KEYS[3], now)

local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[10])
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess)) do
    if excess > 0 and member ~= ARGV[1] then
      redis.call('DEL', ARGV[11] .. member)
      redis.call('ZREM', KEYS[3], member)
      excess = excess - 1
    end
  end
end
return 1
