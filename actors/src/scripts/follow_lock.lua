-- Releases, or renews, a follower-list lock if the caller still holds it: released by a
-- follow whose scan found the follower already listed (nothing to commit) or that gives
-- up; renewed by a scan that takes longer than the lock lasts.
-- KEYS[1]: the lock; ARGV[1]: the caller's token; ARGV[2] (to renew): the new expiry (ms).
-- Returns 1 when released or renewed, 0 when the caller no longer holds it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('DEL', KEYS[1])
