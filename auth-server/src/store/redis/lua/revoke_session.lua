-- KEYS: user, session. ARGV: 1 session member. Returns 1 when the session
-- existed.
local existed = redis.call('DEL', KEYS[2])
index_remove(KEYS[1], ARGV[1])
return existed
