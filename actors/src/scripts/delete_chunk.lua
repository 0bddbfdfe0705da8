-- Removes the photo from the feeds of one chunk of a delete job's recipients, then marks
-- the chunk done, in one atomic step. Removing is idempotent (a feed without the photo is
-- left as it is), so unlike a post's chunk this one needs no undo: a chunk that fails
-- half-way and runs again removes nothing twice, and moves nothing else. Only that id
-- leaves a feed; the order of the rest is kept.
-- KEYS[1]: the job's done-bitmap; KEYS[2]: its snapshot of the follower list; KEYS[3]: the
-- job hash (its identity); KEYS[4]: its earlier recipients (the deleted photo's fan-out
-- snapshot), whose positions follow the snapshot's.
-- ARGV: chunk bit, first and last position of the chunk, photo id, layout ('list' or
-- 'zset'), the feed key pattern around the follower id (head, tail), the job's identity.
-- Returns the number of feeds the chunk covered, -1 when it was already done, -2 when the
-- job is not the one the caller runs or its recipients are gone or short.
-- A list feed holds the photo once (fanout writes it exactly once), near the head after a
-- recent post: `LREM … 1` stops at it. A feed of the other layout (the settings changed
-- since the post) is cleared all the same; a feed of any other type holds no photo.
local done, bit = KEYS[1], ARGV[1]
if redis.call('HGET', KEYS[3], 'ident') ~= ARGV[8] then
  return -2
end
if redis.call('GETBIT', done, bit) == 1 then
  return -1
end
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local taken = redis.call('LLEN', KEYS[2])
local followers = {}
if first < taken then
  followers = redis.call('LRANGE', KEYS[2], ARGV[2], string.format('%d', math.min(last, taken - 1)))
end
if last >= taken then
  local from = math.max(first, taken) - taken
  for _, f in ipairs(redis.call('LRANGE', KEYS[4], string.format('%d', from), string.format('%d', last - taken))) do
    followers[#followers + 1] = f
  end
end
local n = #followers
if n ~= last - first + 1 then
  return -2
end
local photo, layout, head, tail = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
-- feed_removals.lua follows, then (in scripts.rs) the chunk is marked done and n returned.
