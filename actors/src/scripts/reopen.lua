-- Reopens a job with dead-lettered ranges so that it runs again (only its unwritten
-- chunks do: the done-bitmap was kept).
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the job hash; KEYS[3]: its outcome;
-- KEYS[4]: the dead-letter list.
-- ARGV[1]: job id; ARGV[2..]: the job's dead-letter entries, removed from the list.
-- Returns 0 when the job is gone (nothing to resume), 1 otherwise.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
for i = 2, #ARGV do
  redis.call('LREM', KEYS[4], 0, ARGV[i])
end
redis.call('DEL', KEYS[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1
