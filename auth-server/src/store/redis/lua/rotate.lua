-- One refresh. KEYS: user, session, index. ARGV: 1 session member,
-- 2 client id, 3 presented generation, 4 presented hash, 5 new hash,
-- 6 sealed successor, 7 now ms, 8 IP, 9 user agent, 10 grace ms,
-- 11 idle ttl ms, 12 max replays.
-- Returns {0} invalid, {1} wrong client, {2, scope, x, generation, ip, ua}
-- rotated, {3, scope, x, generation, ip, ua, sealed} replayed,
-- {4, ip, ua, client} reused.
local f = redis.call('HMGET', KEYS[2], 'c', 'g', 'h', 'p', 'n', 'z', 'ct', 'e',
  'lt', 'x', 'i', 'ci', 'cu', 'li', 'lu', 's')
if not f[2] then
  return {0}
end

local function drop()
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end

local now = tonumber(ARGV[7])
local rb = revoked_before(KEYS[1])
if not rb or not is_live(f[7], f[8], f[10], f[11], rb, now) then
  drop()
  return {0}
end
if f[1] ~= ARGV[2] then
  return {1}
end

local ip = f[14] or f[12]
local ua = f[15] or f[13]
local g = tonumber(f[2])
local presented = tonumber(ARGV[3])

if presented == g then
  if not equal32(ARGV[4], f[3]) then
    return {0}
  end
  local expiry = math.min(now + tonumber(ARGV[11]), tonumber(f[10]))
  local set = {'g', g + 1, 'h', ARGV[5], 'p', f[3], 'z', ARGV[6], 'lt', ARGV[7],
    'i', expiry}
  local unset = {'n'}
  if ARGV[8] == f[12] then
    unset[#unset + 1] = 'li'
  else
    set[#set + 1] = 'li'
    set[#set + 1] = ARGV[8]
  end
  if ARGV[9] == f[13] then
    unset[#unset + 1] = 'lu'
  else
    set[#set + 1] = 'lu'
    set[#set + 1] = ARGV[9]
  end
  redis.call('HSET', KEYS[2], unpack(set))
  redis.call('HDEL', KEYS[2], unpack(unset))
  redis.call('PEXPIRE', KEYS[2], expiry - now)
  redis.call('ZADD', KEYS[3], expiry, ARGV[1])
  index_upkeep(KEYS[3], now)
  return {2, f[16], f[10], g + 1, ip, ua}
end

if presented == g - 1 then
  if not equal32(ARGV[4], f[4]) then
    return {0}
  end
  local grace = tonumber(ARGV[10])
  if grace > 0 and now - tonumber(f[9]) < grace and ARGV[8] == ip and ARGV[9] == ua then
    if tonumber(f[5] or '0') >= tonumber(ARGV[12]) then
      return {0}
    end
    redis.call('HINCRBY', KEYS[2], 'n', 1)
    return {3, f[16], f[10], g, ip, ua, f[6] or ''}
  end
elseif presented > g then
  return {0}
end

drop()
return {4, ip, ua, f[1]}
