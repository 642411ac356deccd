-- A login. KEYS: user, session. ARGV: 1 session member, 2 client id, 3 scope,
-- 4 token hash, 5 now ms, 6 absolute expiry ms, 7 idle ttl ms, 8 IP, 9 user
-- agent, 10 maximum sessions per user, 11 session key prefix. Returns 1 when
-- created, 0 when refused. Sessions that have expired leave the index here.
-- Beyond the maximum, the live sessions with the earliest idle expiry
-- (other than the new one) are deleted.
local rb = revoked_before(KEYS[1])
local now = tonumber(ARGV[5])
if not rb or now <= rb then
  return 0
end
local expiry = math.min(now + tonumber(ARGV[7]), tonumber(ARGV[6]))
if expiry <= now then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'c', ARGV[2], 's', ARGV[3], 'g', 1, 't', ARGV[4],
  'ct', ARGV[5], 'ci', ARGV[8], 'cu', ARGV[9], 'lt', ARGV[5], 'x', ARGV[6],
  'i', expiry)
redis.call('PEXPIRE', KEYS[2], expiry - now)

-- Keep the sessions still stored, ordered by idle expiry.
local live = {}
for _, member in ipairs(index_members(KEYS[1])) do
  if member ~= ARGV[1] then
    local idle = redis.call('HGET', ARGV[11] .. member, 'i')
    if idle then
      live[#live + 1] = {member, tonumber(idle)}
    end
  end
end
table.sort(live, function(a, b) return a[2] < b[2] end)
local excess = #live + 1 - tonumber(ARGV[10])
local members = {}
for k, entry in ipairs(live) do
  if k <= excess then
    redis.call('DEL', ARGV[11] .. entry[1])
  else
    members[#members + 1] = entry[1]
  end
end
members[#members + 1] = ARGV[1]
index_write(KEYS[1], members)
return 1
