-- KEYS: session, index. ARGV: 1 session member. Returns 1 when the session
-- existed.
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return existed
