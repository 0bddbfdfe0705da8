-- On a cluster: the part of one chunk of a deletion whose feeds are in one slot. In one
-- atomic step it stops the photo's fan-out in this slot (the `stop` flag in the fan-out's
-- marks here, which write_slot.lua checks first, so a part of the fan-out that runs later
-- in this slot writes nothing), removes the photo from the part's feeds, and marks the part
-- done. Removing is idempotent, as on one server; the done-mark keeps the count honest.
-- KEYS[1]: the deletion's done-bitmap in this slot; KEYS[2]: its marks in this slot
-- (`ident`); KEYS[3]: the photo's fan-out's marks in this slot (the deletion's own marks
-- again when the fan-out's id is no longer known: it finished long ago); KEYS[4..]: the
-- feeds (declared so that the cluster routes and checks them).
-- ARGV: chunk bit, photo id, layout ('list' or 'zset'), the feed key pattern around the
-- follower id (head, tail), the deletion's identity, how long (ms) the marks outlive the
-- part's write, then the follower ids in the order of the feed keys.
-- Returns { feeds of the part }, { -1 } when it was done before, { -2 } when the marks
-- belong to another job.
local done, marks, stopped, bit = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local known = redis.call('HGET', marks, 'ident')
if known and known ~= ARGV[6] then
  return { -2 }
end
if redis.call('GETBIT', done, bit) == 1 then
  return { -1 }
end
if not known then
  redis.call('HSET', marks, 'ident', ARGV[6])
end
redis.call('HSET', stopped, 'stop', '1')
local photo, layout, head, tail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local followers = {}
for i = 8, #ARGV do
  followers[#followers + 1] = ARGV[i]
end
local n = #followers
-- feed_removals.lua follows, then (in scripts.rs) the part is marked done, its marks are
-- kept ARGV[7] ms, and { n } returned.
