-- F unfollows A, atomically: F leaves A's follower list (every occurrence), A's photos that
-- fanout knows (A's recent posts, and the photos A is deleting) leave F's feed, and a
-- running fan-out of A skips F from now on. Unfollowing an author one does not follow
-- changes nothing.
-- KEYS[1]: A's follower list; KEYS[2]: F's feed; KEYS[3]: A's recent posts; KEYS[4]: A's
-- unfinished jobs; KEYS[5]: A's follower-list lock (held while a big list is scanned).
-- ARGV[1]: F; ARGV[2]: layout; ARGV[3]: the most list entries one script compares (S);
-- ARGV[4]: the lock token of the caller's scan, '' without one; ARGV[5]: with a scan, the
-- positions it found F at (comma-separated, ascending); ARGV[6]: the positions it looked
-- at (0..ARGV[6]); ARGV[7]: a job hash key with '{id}' for the id; ARGV[8]: the same for a
-- job's skip set; ARGV[9]: the feed cap (only the first that many entries of the feed are
-- looked at and rewritten, so the work is bounded whatever the feed's length).
-- Returns { 'busy' }, { 'scan' } (as follow.lua), { 'rescan' } when the scan lost the lock
-- or the list moved under it (changed behind fanout's back), { 'not_following' }, or { 'unfollowed',
-- occurrences removed, photos removed from the feed }.
-- A list checked in one script keeps its order (LREM). A scanned one (longer than S) has
-- each occurrence replaced by its last entry (LSET, RPOP): constant time each, where
-- removing from the middle of a list of millions would block Redis for tens of ms.
local follower, layout, slice = ARGV[1], ARGV[2], tonumber(ARGV[3])
local holder = redis.call('GET', KEYS[5])
if ARGV[4] ~= '' and holder ~= ARGV[4] then
  return { 'rescan' }
end
if holder and holder ~= ARGV[4] then
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
-- the key's expiry (as in follow.lua: scripts cannot share code).
local function replace_head(key, n, list, keep)
  local ttl = redis.call('PTTL', key)
  if redis.call('LLEN', key) > n then
    redis.call('LTRIM', key, string.format('%d', n), '-1')
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
local bad = expect(KEYS[1], 'list') or expect(KEYS[2], layout) or expect(KEYS[3], 'list')
if bad then
  release()
  return bad
end
local len = redis.call('LLEN', KEYS[1])
local removed = 0
if ARGV[4] == '' then
  if len > slice then
    return { 'scan' }
  end
  removed = redis.call('LREM', KEYS[1], '0', follower)
else
  local from = tonumber(ARGV[6])
  if len - from > slice then
    return { 'scan' }
  end
  local positions = {}
  for p in string.gmatch(ARGV[5], '%d+') do
    if redis.call('LINDEX', KEYS[1], p) ~= follower then
      release()
      return { 'rescan' }
    end
    positions[#positions + 1] = tonumber(p)
  end
  if len > from then
    local tail = redis.call('LPOS', KEYS[1], follower, 'RANK', '-1', 'COUNT', '0', 'MAXLEN', string.format('%d', len - from))
    for _, p in ipairs(tail) do
      positions[#positions + 1] = p
    end
  end
  table.sort(positions, function(a, b)
    return a > b
  end)
  -- Highest first: an occurrence at the end is popped before it could be moved.
  for _, p in ipairs(positions) do
    local last = redis.call('RPOP', KEYS[1])
    if p < len - 1 then
      redis.call('LSET', KEYS[1], string.format('%d', p), last)
    end
    len = len - 1
  end
  removed = #positions
end
if removed == 0 then
  release()
  return { 'not_following' }
end
-- A's photos fanout knows: recent posts, and those being deleted (out of the recent posts
-- already, possibly still in F's feed).
local photos = redis.call('LRANGE', KEYS[3], '0', '-1')
local gone = {}
for _, photo in ipairs(photos) do
  gone[photo] = true
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local job = (string.gsub(ARGV[7], '{id}', id))
  local kind, ident = unpack(redis.call('HMGET', job, 'kind', 'ident'))
  if kind == 'delete' then
    local photo = ident and string.match(ident, ':(.*)$')
    if photo and not gone[photo] then
      gone[photo] = true
      photos[#photos + 1] = photo
    end
  else
    redis.call('SADD', (string.gsub(ARGV[8], '{id}', id)), follower)
  end
end
local taken = 0
if #photos > 0 then
  if layout == 'zset' then
    for s = 1, #photos, 1000 do
      taken = taken + redis.call('ZREM', KEYS[2], unpack(photos, s, math.min(s + 999, #photos)))
    end
  else
    local feed = redis.call('LRANGE', KEYS[2], '0', string.format('%d', tonumber(ARGV[9]) - 1))
    local kept = {}
    for _, e in ipairs(feed) do
      if not gone[e] then
        kept[#kept + 1] = e
      end
    end
    taken = #feed - #kept
    if taken > 0 then
      replace_head(KEYS[2], #feed, kept, #kept)
    end
  end
end
release()
return { 'unfollowed', removed, taken }
