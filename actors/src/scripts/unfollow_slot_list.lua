-- On a cluster, the first step of F unfollowing A: F out of A's follower list, every
-- occurrence (the second, unfollow_slot_feed.lua, runs in the slot of F's feed).
-- Idempotent: run again, it answers 'not_following'.
-- KEYS[1]: A's follower list; KEYS[2]: A's follower-list lock (in the list's slot).
-- ARGV[1]: F; ARGV[2]: S; ARGV[3]: the lock token of the caller's scan, '' without one;
-- ARGV[4]: with a scan, the positions it found F at (comma-separated, ascending); ARGV[5]:
-- the positions it looked at (0..ARGV[5]).
-- Returns { 'busy' }, { 'scan' }, { 'rescan' }, { 'not_following' } (as unfollow.lua) or
-- { 'unlisted', occurrences removed }.
local follower, slice = ARGV[1], tonumber(ARGV[2])
local list_key, lock_key = KEYS[1], KEYS[2]
local token, positions_arg, upto = ARGV[3], ARGV[4], ARGV[5]
--#include lock_checks.lua
local bad = expect(list_key, 'list')
if bad then
  release()
  return bad
end
--#include unfollow_list.lua
release()
return { 'unlisted', removed }
