-- Writes a job's dead feeds again (feeds a chunk skipped because they had the wrong type),
-- when the job resumes after `fanout retry-dead` (see dead_feed_writes.lua).
-- KEYS[1]: the job's dead feeds; KEYS[2]: the job hash; KEYS[3]: the photo's tombstone (a
-- deleted photo is written nowhere again: its dead feeds are dropped); KEYS[4]: the job's
-- skip set (those followers' dead feeds are dropped too).
-- ARGV[1]: the job's identity; ARGV[2]: photo id; ARGV[3]: feed cap; ARGV[4]: layout;
-- ARGV[5]: score (posted_at, ms); ARGV[6], ARGV[7]: the feed pattern around the follower id.
-- Returns { written, still dead }, or -2 when the job is not the one the caller runs.
if redis.call('HGET', KEYS[2], 'ident') ~= ARGV[1] then
  return -2
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DEL', KEYS[1])
  return { 0, 0 }
end
local dead_feeds, skip_set = KEYS[1], KEYS[4]
local photo, cap, layout, score = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local head, tail = ARGV[6], ARGV[7]
local followers = {}
local entries = redis.call('HGETALL', dead_feeds)
for i = 1, #entries, 2 do
  followers[#followers + 1] = entries[i]
end
-- dead_feed_writes.lua follows, then (in scripts.rs) { written, dead } is returned.
