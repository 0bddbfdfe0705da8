-- Writes one chunk of a fan-out: all of it, exactly once, or nothing; a feed of the wrong
-- type is skipped and recorded by itself, so one bad feed does not hold back its neighbours.
-- KEYS[1]: the job's done-bitmap; KEYS[2]: the job's follower snapshot; KEYS[3]: the job
-- hash (its identity); KEYS[4]: the job's dead feeds; KEYS[5]: the photo's tombstone;
-- KEYS[6]: the job's skip set (followers who followed or unfollowed the author while the
-- job ran: the follow merged the photo in, the unfollow took it out; neither may get it
-- from here). Both are absent almost always: one EXISTS per chunk checks the two.
-- ARGV: chunk bit, first and last position of the chunk in the snapshot, photo id, feed cap,
-- layout ('list' or 'zset'), score (posted_at, ms), the feed key pattern split around the
-- follower id (head, tail), the job's identity ('author:photo'), and how many dead feeds
-- the job may record in all. Layout, pattern and cap come from the job's record, not from
-- the settings of the process running the chunk.
-- The followers are read here, inside Redis, so no follower id crosses the wire; the feed
-- keys are built here too, which is why this script needs a single Redis (not a Cluster).
-- The bitmap has no expiry while the job is unfinished (a crashed job resumes from it).
-- Returns the number of feeds written (skipped feeds not counted), -1 when the chunk was
-- already done, or -2 when the job is not the one the caller runs (its identity differs or
-- is gone: Redis rolled back past its acceptance, or it finished and expired) or its
-- snapshot is gone or short (the job has completed; this is a late attempt): nothing may
-- be written then, whatever became of its bitmap; -3 when the photo has been deleted: the
-- chunk is marked done without writing (the delete's job removes what earlier chunks wrote).
-- The feed writes themselves (and what a wrong type or a failure does) are in
-- feed_writes.lua, which follows this part. The identity check is one call per chunk.
local done, bit = KEYS[1], ARGV[1]
if redis.call('HGET', KEYS[3], 'ident') ~= ARGV[10] then
  return -2
end
local stops = redis.call('EXISTS', KEYS[5], KEYS[6])
if stops > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('SETBIT', done, bit, '1')
  return -3
end
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local followers = redis.call('LRANGE', KEYS[2], ARGV[2], ARGV[3])
local n = #followers
if n ~= last - first + 1 then
  return -2
end
if redis.call('GETBIT', done, bit) == 1 then
  return -1
end
if stops > 0 then
  local skip, kept = {}, {}
  for _, f in ipairs(redis.call('SMEMBERS', KEYS[6])) do
    skip[f] = true
  end
  for i = 1, n do
    if not skip[followers[i]] then
      kept[#kept + 1] = followers[i]
    end
  end
  followers, n = kept, #kept
end
local photo, cap, layout, score = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local head, tail = ARGV[8], ARGV[9]
local dead_feeds, max_dead = KEYS[4], tonumber(ARGV[11])
-- feed_writes.lua follows, then: the chunk is done.
