-- KEYS: user. ARGV: 1 scope. Returns 1 when the user exists, else 0.
local scopes = redis.call('HGET', KEYS[1], 's')
if not scopes then
  return 0
end
for scope in string.gmatch(scopes, '%S+') do
  if scope == ARGV[1] then
    return 1
  end
end
if scopes == '' then
  redis.call('HSET', KEYS[1], 's', ARGV[1])
else
  redis.call('HSET', KEYS[1], 's', scopes .. ' ' .. ARGV[1])
end
return 1
