-- F follows A, atomically: F joins A's follower list once, and A's recent photos are merged
-- into F's feed, newest first, each exactly once, capped at the feed's length. A running
-- fan-out of A skips F from now on (its photo is among those merged in).
-- KEYS[1]: A's follower list; KEYS[2]: F's feed; KEYS[3]: A's recent posts; KEYS[4]: A's
-- unfinished jobs; KEYS[5]: A's follower-list lock (held while a big list is scanned);
-- KEYS[6]: the posting times of A's recent posts (position by position).
-- ARGV[1]: F; ARGV[2]: layout ('list' or 'zset'); ARGV[3]: feed cap; ARGV[4]: the most
-- list entries one script compares (S); ARGV[5]: the lock token of the caller's scan, ''
-- without one; ARGV[6]: with a scan, the positions it found F not in (0..ARGV[6]); ARGV[7]:
-- a job hash key with '{id}' for the id; ARGV[8]: the same for a job's skip set; ARGV[9],
-- ARGV[10]: a photo's posting-time key around the photo id.
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
-- Replaces the first `n` entries of list `key` with `list[1..keep]`, keeping the rest and
-- the key's expiry.
local function replace_head(key, n, list, keep)
  local ttl = redis.call('PTTL', key)
  if redis.call('LLEN', key) > n then
    redis.call('LTRIM', key, string.format('%d', n), '-1')
    -- LPUSH puts its last argument first: push the entries last to first.
    local rev = {}
    for i = keep, 1, -1 do
      rev[#rev + 1] = list[i]
    end
    for i = 1, keep, 1000 do
      redis.call('LPUSH', key, unpack(rev, i, math.min(i + 999, keep)))
    end
  else
    redis.call('DEL', key)
    for i = 1, keep, 1000 do
      redis.call('RPUSH', key, unpack(list, i, math.min(i + 999, keep)))
    end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
end
local bad = expect(KEYS[1], 'list') or expect(KEYS[2], layout) or expect(KEYS[3], 'list') or expect(KEYS[6], 'list')
if bad then
  release()
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
-- A's recent posts, newest first by posting time (the lists are by acceptance).
local photos = redis.call('LRANGE', KEYS[3], '0', '-1')
-- Times are zero-padded to one width: compared as strings, never converted.
local ats = redis.call('LRANGE', KEYS[6], '0', '-1')
for i = #ats + 1, #photos do
  ats[i] = ''
end
-- Usually sorted already (accepted in posting order): then no sort.
for i = 2, #ats do
  if ats[i] > ats[i - 1] then
    local order = {}
    for j = 1, #ats do
      order[j] = j
    end
    table.sort(order, function(x, y)
      if ats[x] ~= ats[y] then
        return ats[x] > ats[y]
      end
      return x < y
    end)
    local p, t = {}, {}
    for j, k in ipairs(order) do
      p[j], t[j] = photos[k], ats[k]
    end
    photos, ats = p, t
    break
  end
end
if #photos == 0 then
  release()
  return { 'followed', 0 }
end
local merged = 0
if layout == 'zset' then
  local args = {}
  for i = 1, #photos do
    args[#args + 1] = ats[i] ~= '' and ats[i] or '0'
    args[#args + 1] = photos[i]
  end
  local added = redis.call('ZADD', KEYS[2], 'NX', unpack(args))
  local trimmed = redis.call('ZREMRANGEBYRANK', KEYS[2], '0', string.format('%d', -(cap + 1)))
  release()
  -- What the trim took were the oldest: A's at most as many as were added.
  return { 'followed', math.max(added - trimmed, 0) }
end
-- The list layout: F's feed entries get the posting times fanout recorded (one MGET of
-- their time keys). An entry without one (posted too long ago, or written by something
-- else) counts as old as the next timed entry below it, or as older than any photo merged
-- in when none is below: the feed is in arrival order. A's photos go before the first
-- entry older than they are; the entries already there keep their order. Only the first
-- `cap` entries are looked at and rewritten (any beyond, a feed over its cap, stay as
-- they are), so the work is bounded by the cap, whatever the feed's length.
local feed = redis.call('LRANGE', KEYS[2], '0', string.format('%d', cap - 1))
local present = {}
for _, e in ipairs(feed) do
  present[e] = true
end
local fresh, fresh_at = {}, {}
for i = 1, #photos do
  if not present[photos[i]] then
    fresh[#fresh + 1], fresh_at[#fresh + 1] = photos[i], ats[i]
    present[photos[i]] = true
  end
end
if #fresh == 0 then
  release()
  return { 'followed', 0 }
end
local times = {}
for s = 1, #feed, 1000 do
  local keys = {}
  for i = s, math.min(s + 999, #feed) do
    keys[#keys + 1] = ARGV[9] .. feed[i] .. ARGV[10]
  end
  for _, t in ipairs(redis.call('MGET', unpack(keys))) do
    times[#times + 1] = t
  end
end
local below = ''
for i = #feed, 1, -1 do
  if times[i] then
    below = times[i]
  else
    times[i] = below
  end
end
-- `merged` counts A's photos that land within the cap.
local out, next = {}, 1
local function take()
  if #out < cap then
    merged = merged + 1
  end
  out[#out + 1] = fresh[next]
  next = next + 1
end
for i, e in ipairs(feed) do
  while next <= #fresh and fresh_at[next] > times[i] do
    take()
  end
  out[#out + 1] = e
end
while next <= #fresh do
  take()
end
local keep = math.min(#out, cap)
replace_head(KEYS[2], #feed, out, keep)
release()
return { 'followed', merged }
