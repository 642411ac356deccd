-- Helpers prepended to every script of the Redis store.
--
-- Session hash fields: c client id, s scope, g generation, t token values
-- (the current token's 32-byte hash, then, after a rotation, the previous
-- token's hash and the successor's sealed secret). Then n replays of the
-- previous generation, ct created ms, ci/cu created IP/user agent, lt last
-- rotation ms, li/lu last IP/user agent (absent while equal to ci/cu), x
-- absolute expiry ms, i idle expiry ms, e "counts as created at" ms (set on
-- the session a password change keeps). User hash fields: n username, p
-- password hash, s scopes, c created ms, r revoked-before ms, l the user's
-- session ids (16 bytes each, concatenated; sessions that have expired since
-- are dropped from it at the next login).

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

-- The session ids listed in the user's index.
local function index_members(user_key)
  local list = redis.call('HGET', user_key, 'l')
  local members = {}
  if list then
    for k = 1, #list - 15, 16 do
      members[#members + 1] = string.sub(list, k, k + 15)
    end
  end
  return members
end

-- Writes the user's index. Only called for users that exist.
local function index_write(user_key, members)
  if #members == 0 then
    redis.call('HDEL', user_key, 'l')
  else
    redis.call('HSET', user_key, 'l', table.concat(members))
  end
end

-- Removes one session id from the user's index.
local function index_remove(user_key, member)
  local members = index_members(user_key)
  local remaining = {}
  for _, m in ipairs(members) do
    if m ~= member then
      remaining[#remaining + 1] = m
    end
  end
  if #remaining ~= #members then
    index_write(user_key, remaining)
  end
end
