-- Helpers prepended to every script of the Redis store.
--
-- Session hash fields: c client id, s scope, g generation, h current token
-- hash, p previous token hash, n replays of the previous generation, z sealed
-- successor, ct created ms, ci/cu created IP/user agent, lt last rotation ms,
-- li/lu last IP/user agent (absent while equal to ci/cu), x absolute expiry
-- ms, i idle expiry ms, e "counts as created at" ms (set on the session a
-- password change keeps). User hash fields: n username, p password hash,
-- s scopes, c created ms, r revoked-before ms.

-- Compares two 32-byte strings in time independent of their contents.
local function equal32(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= 32 or #b ~= 32 then
    return false
  end
  local acc = 0
  for k = 1, 32 do
    acc = bit.bor(acc, bit.bxor(string.byte(a, k), string.byte(b, k)))
  end
  return acc == 0
end

-- The user's revoked-before time, or nil when the user does not exist.
local function revoked_before(user_key)
  local r = redis.call('HGET', user_key, 'r')
  if not r then
    return nil
  end
  return tonumber(r)
end

-- Whether a session with these ct, e, x, i fields is alive at `now`.
local function is_live(ct, e, x, i, rb, now)
  if not ct or not x or not i then
    return false
  end
  local from = math.max(tonumber(ct), tonumber(e or '0'))
  return from > rb and now < tonumber(x) and now < tonumber(i)
end

-- Drops dead members from a session index and lets the index expire with
-- its last session.
local function index_upkeep(index_key, now)
  redis.call('ZREMRANGEBYSCORE', index_key, '-inf', now)
  local top = redis.call('ZRANGE', index_key, -1, -1, 'WITHSCORES')
  if top[2] then
    local ttl = tonumber(top[2]) - now
    if ttl > 0 then
      redis.call('PEXPIRE', index_key, ttl)
    end
  end
end

