-- KEYS: user. ARGV: 1 now ms, 2 session key prefix. Returns one
-- {member, c, s, g, ct, ci, cu, lt, li, lu, x} per live session.
local rb = revoked_before(KEYS[1])
if not rb then
  return {}
end
local now = tonumber(ARGV[1])
local out = {}
for _, member in ipairs(index_members(KEYS[1])) do
  local f = redis.call('HMGET', ARGV[2] .. member, 'c', 's', 'g', 'ct', 'ci',
    'cu', 'lt', 'li', 'lu', 'x', 'e', 'i')
  if is_live(f[4], f[11], f[10], f[12], rb, now) then
    out[#out + 1] = {member, f[1], f[2], f[3], f[4], f[5], f[6], f[7],
      f[8] or f[5], f[9] or f[6], f[10]}
  end
end
return out
