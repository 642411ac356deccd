-- KEYS: user, session. ARGV: 1 now ms. Returns the session's fields
-- {c, s, g, ct, ci, cu, lt, li, lu, x} when it is alive, else nil.
local rb = revoked_before(KEYS[1])
if not rb then
  return false
end
local f = redis.call('HMGET', KEYS[2], 'c', 's', 'g', 'ct', 'ci', 'cu', 'lt',
  'li', 'lu', 'x', 'e', 'i')
if not is_live(f[4], f[11], f[10], f[12], rb, tonumber(ARGV[1])) then
  return false
end
return {f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] or f[5], f[9] or f[6], f[10]}
