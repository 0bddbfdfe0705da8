-- On a cluster, the second step of F unfollowing A, in the slot of F's feed: F into the
-- skip sets (in this slot) of A's running fan-outs, and A's photos out of F's feed, as
-- unfollow.lua does on one server. Idempotent: a repeat finds nothing more to remove.
-- KEYS[1]: F's feed; KEYS[2..]: the skip sets in this slot of A's running post fan-outs.
-- ARGV[1]: F; ARGV[2]: layout; ARGV[3]: feed cap; ARGV[4]: how long (ms) a skip set is
-- kept; ARGV[5..]: A's photos fanout knows (recent posts, and those being deleted).
-- Returns a WRONGTYPE error for a feed of another type (writing nothing), or
-- { 'unfollowed', 0, photos removed } (the caller knows how many occurrences left the list).
local follower, layout, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local feed_key = KEYS[1]
--#include replace_head.lua
--#include feed_step_head.lua
local photos, gone = {}, {}
for i = 5, #ARGV do
  if not gone[ARGV[i]] then
    photos[#photos + 1] = ARGV[i]
    gone[ARGV[i]] = true
  end
end
--#include unfollow_feed.lua
return { 'unfollowed', 0, taken }
