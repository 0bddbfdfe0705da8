-- Takes a job's snapshot of the follower list, once: its ranges are positions in this copy,
-- so follows and unfollows during the fan-out cannot shift them. Runs right after the
-- job is accepted (not in the acceptance itself: copying 1.5 M ids blocks Redis for about
-- 5 ms, which the upload request should not wait for), and again when a job is resumed.
-- KEYS[1]: the author's follower list; KEYS[2]: the snapshot; KEYS[3]: the job hash;
-- KEYS[4]: the job's done-bitmap; KEYS[5]: the set of unfinished jobs; KEYS[6]: its lease;
-- KEYS[7]: the photo's tombstone; KEYS[8]: a delete job's earlier recipients.
-- ARGV[1]: the job id; ARGV[2]: this instance's id; ARGV[3]: the job's identity;
-- ARGV[4]: its kind ('post' or 'delete'); ARGV[5]: on a cluster, the token of the copy
-- the caller staged in KEYS[1] and keeps (recorded as 'staged' when this copies it: the
-- caller's chunks read their followers from its copy only while the job names it), or '';
-- ARGV[6]: '1' when KEYS[1] is the list to copy (the author's list on one server, the
-- staged one on a cluster), '0' when the caller staged nothing (it found the snapshot
-- taken): then this takes none, and answers NOT_STAGED if it has to.
-- A post whose photo has been deleted takes no snapshot (its chunks write nothing now, and
-- its old one went to the delete job): its stored follower count keeps its plan. A delete
-- job's recipients are the snapshot followed by its earlier recipients.
-- Returns the number of recipients (taking it again returns the same), -1 when the
-- job is no longer unfinished or no longer this job, -2 when another instance holds it:
-- then it must not run here.
if not redis.call('ZSCORE', KEYS[5], ARGV[1]) or redis.call('HGET', KEYS[3], 'ident') ~= ARGV[3] then
  return -1
end
if redis.call('GET', KEYS[6]) ~= ARGV[2] then
  return -2
end
if ARGV[4] == 'post' and redis.call('EXISTS', KEYS[7]) == 1 then
  return tonumber(redis.call('HGET', KEYS[3], 'followers') or '0')
end
local earlier = redis.call('LLEN', KEYS[8])
-- 'taken': the snapshot's length when it was taken (an empty one is no key at all).
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('HGET', KEYS[3], 'taken') == '0' then
  return redis.call('LLEN', KEYS[2]) + earlier
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  -- Chunks were written from a snapshot that is gone: a new one could shift positions.
  return redis.error_reply('SNAPSHOT_LOST ' .. KEYS[2] .. ' is gone while chunks are done')
end
if ARGV[6] == '0' then
  -- On a cluster the caller found the snapshot taken and staged nothing; it is gone now.
  return redis.error_reply('NOT_STAGED ' .. KEYS[2] .. ' went while it was being taken')
end
local followers = 0
if redis.call('TYPE', KEYS[1]).ok == 'list' then
  redis.call('COPY', KEYS[1], KEYS[2])
  -- COPY keeps the source's expiry (a staged list has one): the snapshot must not expire.
  redis.call('PERSIST', KEYS[2])
  followers = redis.call('LLEN', KEYS[2])
end
redis.call('HSET', KEYS[3], 'followers', followers + earlier, 'taken', followers)
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], 'staged', ARGV[5])
else
  redis.call('HDEL', KEYS[3], 'staged')
end
return followers + earlier
