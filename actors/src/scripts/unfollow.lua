-- F unfollows A, atomically: F leaves A's follower list (every occurrence), A's photos that
-- fanout knows (A's recent posts, and the photos A is deleting) leave F's feed, and a
-- running fan-out of A skips F from now on. Unfollowing an author one does not follow
-- changes nothing.
-- KEYS[1]: A's follower list; KEYS[2]: F's feed; KEYS[3]: A's recent posts; KEYS[4]: A's
-- unfinished jobs; KEYS[5]: A's follower-list lock (held while a big list is scanned).
-- ARGV[1]: F; ARGV[2]: layout; ARGV[3]: the most list entries one script compares (S);
-- ARGV[4]: the lock token of the caller's scan, '' without one; ARGV[5]: with a scan, the
-- positions it found F at (comma-separated, ascending); ARGV[6]: the positions it looked
-- at (0..ARGV[6]); ARGV[7]: a job hash key with '{id}' for the id; ARGV[8]: the same for a
-- job's skip set; ARGV[9]: the feed cap (only the first that many entries of the feed are
-- looked at and rewritten, so the work is bounded whatever the feed's length).
-- Returns { 'busy' }, { 'scan' } (as follow.lua), { 'rescan' } when the scan lost the lock
-- or the list moved under it (changed behind fanout's back), { 'not_following' }, or { 'unfollowed',
-- occurrences removed, photos removed from the feed }.
local follower, layout, slice = ARGV[1], ARGV[2], tonumber(ARGV[3])
local list_key, feed_key, lock_key = KEYS[1], KEYS[2], KEYS[5]
local token, positions_arg, upto, cap = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[9])
--#include lock_checks.lua
--#include replace_head.lua
local bad = expect(KEYS[1], 'list') or expect(KEYS[2], layout) or expect(KEYS[3], 'list')
if bad then
  release()
  return bad
end
--#include unfollow_list.lua
-- A's photos fanout knows: recent posts, and those being deleted (out of the recent posts
-- already, possibly still in F's feed).
local photos = redis.call('LRANGE', KEYS[3], '0', '-1')
local gone = {}
for _, photo in ipairs(photos) do
  gone[photo] = true
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local job = (string.gsub(ARGV[7], '{id}', id))
  local kind, ident = unpack(redis.call('HMGET', job, 'kind', 'ident'))
  if kind == 'delete' then
    local photo = ident and string.match(ident, ':(.*)$')
    if photo and not gone[photo] then
      gone[photo] = true
      photos[#photos + 1] = photo
    end
  else
    redis.call('SADD', (string.gsub(ARGV[8], '{id}', id)), follower)
  end
end
--#include unfollow_feed.lua
release()
return { 'unfollowed', removed, taken }
