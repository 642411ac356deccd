-- KEYS: user. ARGV: 1 now ms, 2 session key prefix. Deletes every indexed
-- session, moves the user's revoked-before time to now and returns the
-- number of live sessions deleted.
local now = tonumber(ARGV[1])
local rb = revoked_before(KEYS[1])
if not rb then
  return 0
end
local count = 0
for _, member in ipairs(index_members(KEYS[1])) do
  local key = ARGV[2] .. member
  local f = redis.call('HMGET', key, 'ct', 'e', 'x', 'i')
  if is_live(f[1], f[2], f[3], f[4], rb, now) then
    count = count + 1
  end
  redis.call('DEL', key)
end
redis.call('HDEL', KEYS[1], 'l')
if now > rb then
  redis.call('HSET', KEYS[1], 'r', ARGV[1])
end
return count
