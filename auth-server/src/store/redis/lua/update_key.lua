-- KEYS: signing keys hash. ARGV: 1 kid, 2 new lifecycle line. Replaces the
-- first line of the key's record and returns 1, or 0 when it does not exist.
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then
  return 0
end
local newline = string.find(record, '\n', 1, true)
if not newline then
  return redis.error_reply('corrupt signing key record')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(record, newline))
return 1
