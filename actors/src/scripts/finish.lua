-- Records how a job ended and lets its keys go.
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the lease; KEYS[3]: the job hash;
-- KEYS[4]: the done-bitmap; KEYS[5]: the snapshot; KEYS[6]: the outcome;
-- KEYS[7]: the photo's idempotency key; KEYS[8]: the set of failed jobs.
-- ARGV[1]: job id; ARGV[2]: encoded outcome; ARGV[3]: '1' when every range was written;
-- ARGV[4]: done-bitmap expiry (s); ARGV[5]: expiry of the job, outcome and photo key (s);
-- ARGV[6]: this instance's id.
-- A job with dead-lettered ranges keeps its snapshot and bitmap (no expiry) and joins the
-- failed set, so that `fanout retry-dead` can finish it later, writing only what is missing.
-- Returns 0, changing nothing, when the job was already finished (by another instance).
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[6], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[6] then
  redis.call('DEL', KEYS[2])
end
if ARGV[3] ~= '1' then
  redis.call('ZADD', KEYS[8], ARGV[1], ARGV[1])
else
  redis.call('DEL', KEYS[5])
  -- An attempt that timed out may still be running: it must keep finding its chunks done.
  redis.call('EXPIRE', KEYS[4], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[6], ARGV[5])
  redis.call('EXPIRE', KEYS[7], ARGV[5])
end
return 1
