-- F follows A, atomically: F joins A's follower list once, and A's recent photos are merged
-- into F's feed, newest first, each exactly once, capped at the feed's length. A running
-- fan-out of A skips F from now on (its photo is among those merged in).
-- KEYS[1]: A's follower list; KEYS[2]: F's feed; KEYS[3]: A's recent posts; KEYS[4]: A's
-- unfinished jobs; KEYS[5]: A's follower-list lock (held while a big list is scanned).
-- ARGV[1]: F; ARGV[2]: layout ('list' or 'zset'); ARGV[3]: feed cap; ARGV[4]: the most
-- list entries one script compares (S); ARGV[5]: the lock token of the caller's scan, ''
-- without one; ARGV[6]: with a scan, the positions it found F not in (0..ARGV[6]); ARGV[7]:
-- a job hash key with '{id}' for the id; ARGV[8]: the same for a job's skip set; ARGV[9]:
-- a photo key with '{id}' for the photo id (photo → job, whose hash has the posting time).
-- Returns { 'busy' } when another caller's scan holds the lock, { 'rescan' } when the caller's
-- scan lost it; { 'scan' } when the list is
-- too long to check in one script (the caller scans it in slices under the lock and calls
-- again); { 'already' } when F is in the list (nothing changed); { 'followed', merged }.
-- Every check comes before the first write. No step is longer than S comparisons plus the
-- feed's length (the cap) and A's recent posts (the same cap).
local follower, layout, cap, slice = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local holder = redis.call('GET', KEYS[5])
if ARGV[5] ~= '' and holder ~= ARGV[5] then
  -- The caller's scan lost the lock (it expired): what it read may be stale.
  return { 'rescan' }
end
if holder and holder ~= ARGV[5] then
  return { 'busy' }
end
local function release()
  if holder then
    redis.call('DEL', KEYS[5])
  end
end
local function expect(key, types)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= types then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a ' .. types)
  end
end
local bad = expect(KEYS[1], 'list') or expect(KEYS[2], layout) or expect(KEYS[3], 'list')
if bad then
  return bad
end
local len = redis.call('LLEN', KEYS[1])
local from = ARGV[5] == '' and 0 or tonumber(ARGV[6])
if len - from > slice then
  return { 'scan' }
end
if len > from and redis.call('LPOS', KEYS[1], follower, 'RANK', '-1', 'MAXLEN', string.format('%d', len - from)) then
  release()
  return { 'already' }
end
redis.call('RPUSH', KEYS[1], follower)
-- Running fan-outs of A: their photos are merged in below, so they must not write F.
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HGET', (string.gsub(ARGV[7], '{id}', id)), 'kind') ~= 'delete' then
    redis.call('SADD', (string.gsub(ARGV[8], '{id}', id)), follower)
  end
end
-- A's recent posts, newest first by posting time (the list is by acceptance).
local posts = {}
for i, entry in ipairs(redis.call('LRANGE', KEYS[3], '0', '-1')) do
  local photo, at = string.match(entry, '^([^:]*):(.*)$')
  if photo then
    posts[#posts + 1] = { photo = photo, at = tonumber(at) or 0, i = i }
  end
end
table.sort(posts, function(a, b)
  if a.at ~= b.at then
    return a.at > b.at
  end
  return a.i < b.i
end)
if #posts == 0 then
  release()
  return { 'followed', 0 }
end
local merged = 0
if layout == 'zset' then
  local args = {}
  for _, p in ipairs(posts) do
    args[#args + 1] = string.format('%d', p.at)
    args[#args + 1] = p.photo
  end
  merged = redis.call('ZADD', KEYS[2], 'NX', unpack(args))
  redis.call('ZREMRANGEBYRANK', KEYS[2], '0', string.format('%d', -(cap + 1)))
  release()
  return { 'followed', merged }
end
-- The list layout: F's feed entries get the posting times fanout recorded (photo key → its
-- job's 'at'); A's photos go before the first timed entry older than they are. Entries
-- without a time keep their place relative to the others.
local feed = redis.call('LRANGE', KEYS[2], '0', '-1')
local present = {}
for _, e in ipairs(feed) do
  present[e] = true
end
local fresh = {}
for _, p in ipairs(posts) do
  if not present[p.photo] then
    fresh[#fresh + 1] = p
    present[p.photo] = true
  end
end
if #fresh == 0 then
  release()
  return { 'followed', 0 }
end
local out, next = {}, 1
for _, e in ipairs(feed) do
  local job = redis.call('GET', (string.gsub(ARGV[9], '{id}', e)))
  local at = job and tonumber(redis.call('HGET', (string.gsub(ARGV[7], '{id}', job)), 'at'))
  if at then
    while next <= #fresh and fresh[next].at > at do
      out[#out + 1] = fresh[next].photo
      next = next + 1
    end
  end
  out[#out + 1] = e
end
while next <= #fresh do
  out[#out + 1] = fresh[next].photo
  next = next + 1
end
local keep = math.min(#out, cap)
local kept, new = {}, {}
for _, p in ipairs(fresh) do
  new[p.photo] = true
end
for i = 1, keep do
  kept[i] = out[i]
  if new[out[i]] then
    merged = merged + 1
  end
end
redis.call('DEL', KEYS[2])
for s = 1, keep, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(kept, s, math.min(s + 999, keep)))
end
release()
return { 'followed', merged }
