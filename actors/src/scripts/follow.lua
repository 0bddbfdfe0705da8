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
local list_key, feed_key, lock_key, token, upto = KEYS[1], KEYS[2], KEYS[5], ARGV[5], ARGV[6]
--#include lock_checks.lua
--#include replace_head.lua
local bad = expect(KEYS[1], 'list') or expect(KEYS[2], layout) or expect(KEYS[3], 'list') or expect(KEYS[6], 'list')
if bad then
  release()
  return bad
end
--#include follow_list.lua
-- Running fan-outs of A: their photos are merged in below, so they must not write F.
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HGET', (string.gsub(ARGV[7], '{id}', id)), 'kind') ~= 'delete' then
    redis.call('SADD', (string.gsub(ARGV[8], '{id}', id)), follower)
  end
end
local photos = redis.call('LRANGE', KEYS[3], '0', '-1')
-- Times are zero-padded to one width: compared as strings, never converted.
local ats = redis.call('LRANGE', KEYS[6], '0', '-1')
local function times_of(feed)
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
  return times
end
--#include follow_merge.lua
