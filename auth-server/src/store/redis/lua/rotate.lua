-- One refresh. KEYS: user, session. ARGV: 1 session member, 2 client id,
-- 3 presented generation, 4 presented hash, 5 new hash, 6 sealed successor,
-- 7 now ms, 8 IP, 9 user agent, 10 grace ms, 11 idle ttl ms, 12 max replays.
-- Returns {0} invalid, {1} wrong client, {2, scope, x, generation, ip, ua}
-- rotated, {3, scope, x, generation, ip, ua, sealed, current hash}
-- replayed, {4, ip, ua, client} reused. The user's session index is left
-- alone: rotation does not change which sessions exist.
local f = redis.call('HMGET', KEYS[2], 'c', 'g', 't', 'n', 'ct', 'e', 'lt',
  'x', 'i', 'ci', 'cu', 'li', 'lu', 's')
if not f[2] then
  return {0}
end

local function drop()
  redis.call('DEL', KEYS[2])
  index_remove(KEYS[1], ARGV[1])
end

local now = tonumber(ARGV[7])
local rb = revoked_before(KEYS[1])
if not rb or not is_live(f[5], f[6], f[8], f[9], rb, now) then
  drop()
  return {0}
end
if f[1] ~= ARGV[2] then
  return {1}
end

local ip = f[12] or f[10]
local ua = f[13] or f[11]
local g = tonumber(f[2])
local presented = tonumber(ARGV[3])
local hashes = f[3] or ''
local current = string.sub(hashes, 1, 32)

if presented == g then
  if not equal32(ARGV[4], current) then
    return {0}
  end
  local expiry = math.min(now + tonumber(ARGV[11]), tonumber(f[8]))
  -- The grace window starts when the rotation happens. A request that
  -- waited in a stalled Redis runs after its caller gave up with 503, and
  -- the caller's retry must still find itself inside the window: so take
  -- Redis's clock when it is later than the request's.
  local clock = redis.call('TIME')
  local redis_now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local rotated_at = math.max(now, redis_now)
  local set = {'g', g + 1, 't', ARGV[5] .. current .. ARGV[6], 'lt', rotated_at,
    'i', expiry}
  local unset = {'n'}
  if ARGV[8] == f[10] then
    unset[#unset + 1] = 'li'
  else
    set[#set + 1] = 'li'
    set[#set + 1] = ARGV[8]
  end
  if ARGV[9] == f[11] then
    unset[#unset + 1] = 'lu'
  else
    set[#set + 1] = 'lu'
    set[#set + 1] = ARGV[9]
  end
  redis.call('HSET', KEYS[2], unpack(set))
  redis.call('HDEL', KEYS[2], unpack(unset))
  redis.call('PEXPIRE', KEYS[2], expiry - now)
  return {2, f[14], f[8], g + 1, ip, ua}
end

if presented == g - 1 then
  if not equal32(ARGV[4], string.sub(hashes, 33, 64)) then
    return {0}
  end
  local grace = tonumber(ARGV[10])
  if grace > 0 and now - tonumber(f[7]) < grace and ARGV[8] == ip and ARGV[9] == ua then
    if tonumber(f[4] or '0') >= tonumber(ARGV[12]) then
      return {0}
    end
    redis.call('HINCRBY', KEYS[2], 'n', 1)
    return {3, f[14], f[8], g, ip, ua, string.sub(hashes, 65), current}
  end
elseif presented > g then
  return {0}
end

drop()
return {4, ip, ua, f[1]}
