-- Writes the part of one chunk whose feeds are in one Redis Cluster slot: all of it, exactly
-- once, or nothing. On a cluster a chunk is written as one such script per slot its
-- followers' feeds are in (the snapshot is sorted by that slot, so a chunk spans few), and
-- the marks that guard each part are kept in the slot itself: they live, move (resharding)
-- and fail over with the feeds they guard, so a part is written once whatever happened to
-- the ledger's node or to the client meanwhile.
-- KEYS[1]: the job's done-bitmap in this slot (bit = chunk); KEYS[2]: the job's marks in
-- this slot (a hash: `ident`, the job's identity, set by its first part here; `stop`, set
-- when the photo is deleted); KEYS[3]: the job's skip set in this slot (followers who
-- followed or unfollowed the author while the job ran); KEYS[4]: the job's dead feeds in
-- this slot; KEYS[5..]: the feeds, in the chunk's order (declared, so that the cluster
-- routes and checks them; the follower ids are not sent as well: they are read off the keys
-- where needed, which is rarely).
-- ARGV: chunk bit, photo id, feed cap, layout ('list' or 'zset'), score (posted_at, ms),
-- the feed key pattern split around the follower id (head, tail), the job's identity
-- ('author:photo'), how many dead feeds the job may record in this slot, how long (ms) the
-- marks outlive the part's write (refreshed by every part).
-- Returns { written, dead... } (feeds that hold the photo now, skipped ones not counted;
-- when it skipped some, the slot's dead feeds, follower and entry in turn),
-- { -1, dead... } when the part was done before (with the slot's dead feeds, follower and
-- entry in turn, for the caller to record in the ledger again), { -2 } when the marks
-- belong to another job, { -3 } when the photo has been deleted (the part is marked done
-- without writing).
local done, marks, skip_set, bit = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local known = redis.call('HMGET', marks, 'ident', 'stop')
if known[2] then
  redis.call('SETBIT', done, bit, '1')
  return { -3 }
end
if known[1] and known[1] ~= ARGV[8] then
  return { -2 }
end
if redis.call('GETBIT', done, bit) == 1 then
  local again = redis.call('HGETALL', KEYS[4])
  table.insert(again, 1, -1)
  return again
end
if not known[1] then
  redis.call('HSET', marks, 'ident', ARGV[8])
end
local head, tail = ARGV[6], ARGV[7]
-- scripts.rs has feed_writes.lua take each feed's key from here.
local feeds = {}
for i = 5, #KEYS do
  feeds[#feeds + 1] = KEYS[i]
end
-- A follower's id, read off its feed's key (the pattern's head and tail around it) only
-- where it is needed: the skip set, a dead feed's record.
local followers = setmetatable({}, { __index = function(_, i)
  local key = feeds[i]
  return key and string.sub(key, #head + 1, #key - #tail)
end })
if redis.call('EXISTS', skip_set) == 1 then
  local ids = {}
  for i = 1, #feeds do
    ids[i] = followers[i]
  end
  -- In slices: unpack has a limit (about 8,000), and a part may hold a whole chunk.
  local member = {}
  for from = 1, #ids, 1000 do
    local slice = redis.call('SMISMEMBER', skip_set, unpack(ids, from, math.min(from + 999, #ids)))
    for j = 1, #slice do
      member[from + j - 1] = slice[j]
    end
  end
  local kept = {}
  for i = 1, #feeds do
    if member[i] == 0 then
      kept[#kept + 1] = feeds[i]
    end
  end
  feeds = kept
end
local n = #feeds
local photo, cap, layout, score = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local dead_feeds, max_dead = KEYS[4], tonumber(ARGV[9])
-- feed_writes.lua follows, then (in scripts.rs): the part is marked done, its marks are
-- kept ARGV[10] ms, and the reply is built.
