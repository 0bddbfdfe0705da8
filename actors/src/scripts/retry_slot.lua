-- On a cluster: writes a resumed job's dead feeds in one slot again (after `fanout
-- retry-dead`; see dead_feed_writes.lua). The slot's own record of its dead feeds decides,
-- not the ledger's copy: a feed is written only while its follower is listed there, and
-- leaves the list in the same step, so a repeat (a resent script, a second retry whose
-- ledger update was lost) writes nothing twice.
-- KEYS[1]: the job's dead feeds in this slot; KEYS[2]: its skip set in this slot; KEYS[3]:
-- its marks in this slot (`stop`: the photo was deleted, its dead feeds are dropped);
-- KEYS[4..]: the feeds (declared so that the cluster routes and checks them).
-- ARGV: photo id, feed cap, layout, score (posted_at, ms), the feed key pattern around the
-- follower id (head, tail), then the followers the ledger lists as dead in this slot.
-- Returns { written, { follower, entry, ... } }: those of the given followers still dead.
local dead_feeds, skip_set = KEYS[1], KEYS[2]
local photo, cap, layout, score = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local head, tail = ARGV[5], ARGV[6]
local followers = {}
if redis.call('HEXISTS', KEYS[3], 'stop') == 1 then
  redis.call('DEL', dead_feeds)
else
  for i = 7, #ARGV do
    if redis.call('HEXISTS', dead_feeds, ARGV[i]) == 1 then
      followers[#followers + 1] = ARGV[i]
    end
  end
end
-- dead_feed_writes.lua follows, then (in scripts.rs) the reply is built.
