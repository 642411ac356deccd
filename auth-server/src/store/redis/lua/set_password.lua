-- KEYS: user. ARGV: 1 password hash, 2 now ms, 3 session key prefix, 4
-- member of the session to keep ('' for none). Returns the number of live
-- sessions revoked, or -1 when the user does not exist.
local rb = revoked_before(KEYS[1])
if not rb then
  return -1
end
local now = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'p', ARGV[1])
local count = 0
local remaining = {}
for _, member in ipairs(index_members(KEYS[1])) do
  local key = ARGV[3] .. member
  local f = redis.call('HMGET', key, 'ct', 'e', 'x', 'i')
  local live = is_live(f[1], f[2], f[3], f[4], rb, now)
  if member == ARGV[4] and live then
    redis.call('HSET', key, 'e', now + 1)
    remaining[#remaining + 1] = member
  else
    if live then
      count = count + 1
    end
    redis.call('DEL', key)
  end
end
index_write(KEYS[1], remaining)
if now > rb then
  redis.call('HSET', KEYS[1], 'r', ARGV[2])
end
return count
