-- Reopens a failed job (one with dead-lettered ranges) so that it runs again; only its
-- unwritten chunks do, the done-bitmap was kept.
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the set of failed jobs; KEYS[3]: the job's
-- outcome; KEYS[4]: the dead-letter list.
-- ARGV[1]: job id; ARGV[2..]: the job's dead-letter entries, removed from the list.
-- Returns 0, changing nothing, unless the job is failed (not unfinished, not completed).
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
for i = 2, #ARGV do
  redis.call('LREM', KEYS[4], 0, ARGV[i])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1
