-- Releases a follower-list lock if the caller still holds it (a follow whose scan found
-- the follower already listed has nothing to commit).
-- KEYS[1]: the lock; ARGV[1]: the caller's token. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
