-- On a cluster, the first step of F following A: F into A's follower list, once (the
-- second, follow_slot_feed.lua, runs in the slot of F's feed). Idempotent: run again, it
-- answers 'already'.
-- KEYS[1]: A's follower list; KEYS[2]: A's follower-list lock (in the list's slot).
-- ARGV[1]: F; ARGV[2]: the most list entries one script compares (S); ARGV[3]: the lock
-- token of the caller's scan, '' without one; ARGV[4]: with a scan, the positions it found
-- F not in (0..ARGV[4]).
-- Returns { 'busy' }, { 'rescan' }, { 'scan' }, { 'already' } (as follow.lua) or
-- { 'listed' }.
local follower, slice = ARGV[1], tonumber(ARGV[2])
local list_key, lock_key, token, upto = KEYS[1], KEYS[2], ARGV[3], ARGV[4]
--#include lock_checks.lua
local bad = expect(list_key, 'list')
if bad then
  release()
  return bad
end
--#include follow_list.lua
release()
return { 'listed' }
