-- KEYS: user. ARGV: 1 username, 2 password hash, 3 scopes, 4 created ms,
-- 5 revoked-before ms. Returns 1 when the record is written (or was already
-- written for this username by an earlier try), 0 when the id is taken.
local existing = redis.call('HGET', KEYS[1], 'n')
if existing then
  if existing == ARGV[1] then
    return 1
  end
  return 0
end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 'p', ARGV[2], 's', ARGV[3], 'c', ARGV[4],
  'r', ARGV[5])
return 1
