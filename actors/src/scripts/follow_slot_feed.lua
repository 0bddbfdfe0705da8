-- On a cluster, the second step of F following A, in the slot of F's feed: F into the skip
-- sets (in this slot) of A's running fan-outs, and A's recent photos merged into F's feed,
-- as follow.lua does on one server. Idempotent: a photo already in the feed is not merged
-- again, so a repeat (or a fan-out's part that wrote F before the skip) leaves it once.
-- KEYS[1]: F's feed; KEYS[2..]: the skip sets in this slot of A's running post fan-outs.
-- ARGV[1]: F; ARGV[2]: layout; ARGV[3]: feed cap; ARGV[4]: how long (ms) a skip set is
-- kept (as long as the fan-out's other marks); ARGV[5]: N, how many recent photos A has;
-- then N pairs: photo, posting time (as the ledger lists them); then pairs of a feed entry
-- and its posting time, for the feed's entries the ledger knows a time of (read by the
-- caller just before: an entry written since counts as one without a time).
-- Returns a WRONGTYPE error for a feed of another type (writing nothing), or
-- { 'followed', merged }.
local follower, layout, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local feed_key = KEYS[1]
local function release() end
--#include replace_head.lua
--#include feed_step_head.lua
local n = tonumber(ARGV[5])
local photos, ats = {}, {}
for i = 1, n do
  photos[i], ats[i] = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
end
local known = {}
for i = 6 + 2 * n, #ARGV - 1, 2 do
  known[ARGV[i]] = ARGV[i + 1]
end
local function times_of(feed)
  local times = {}
  for i, e in ipairs(feed) do
    times[i] = known[e] or false
  end
  return times
end
--#include follow_merge.lua
