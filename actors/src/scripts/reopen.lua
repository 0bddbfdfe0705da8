-- Reopens a failed job (dead-lettered ranges or dead feeds) so that it runs again; only its
-- unwritten chunks and its dead feeds do, the done-bitmap was kept.
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the set of failed jobs; KEYS[3]: the job's
-- outcome; KEYS[4]: the first release's shared dead-letter list; KEYS[5]: the job hash;
-- KEYS[6]: its snapshot; KEYS[7]: its done-bitmap; KEYS[8]: the photo key; KEYS[9]: its
-- dead letters; KEYS[10]: its dead feeds; KEYS[11]: a delete job's earlier recipients (for a
-- delete job, KEYS[8] is the photo's tombstone); KEYS[12]: its skip set.
-- ARGV[1]: job id; ARGV[2]: its score among the unfinished (now, ms); ARGV[3..]: the job's
-- entries in the shared list (first release), removed from it.
-- Returns 0, changing nothing, unless the job is failed (not unfinished, not completed)
-- and its record is still there.
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('EXISTS', KEYS[5]) == 0 then
  return 0
end
for i = 3, #ARGV do
  redis.call('LREM', KEYS[4], 0, ARGV[i])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[9])
-- Unfinished jobs do not expire; the dead feeds are retried when the job resumes.
for _, key in ipairs({ KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[10], KEYS[11], KEYS[12] }) do
  redis.call('PERSIST', key)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
