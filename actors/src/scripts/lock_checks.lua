-- Shared by the follow and unfollow scripts (one server, and a cluster's list step): the
-- author's follower-list lock, held while a list too long for one script is scanned in
-- slices. Expects `lock_key` and `token` (the caller's scan's, '' without one); answers
-- 'rescan' when that scan lost the lock, 'busy' when another's holds it; defines `holder`,
-- `release()` and `expect(key, type)` (a WRONGTYPE error for a key of another type).
local holder = redis.call('GET', lock_key)
if token ~= '' and holder ~= token then
  -- The caller's scan lost the lock (it expired): what it read may be stale.
  return { 'rescan' }
end
if holder and holder ~= token then
  return { 'busy' }
end
local function release()
  if holder then
    redis.call('DEL', lock_key)
  end
end
local function expect(key, types)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= types then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a ' .. types)
  end
end
