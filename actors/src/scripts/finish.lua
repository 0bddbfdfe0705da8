-- Decides, from what Redis holds, whether a job is finished, and records how it ended.
-- Redis is the truth, not the caller's counters: after a rollback (a restart from an older
-- snapshot, a failover to a lagging replica) chunks the caller wrote may be missing again.
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the lease; KEYS[3]: the job hash;
-- KEYS[4]: the done-bitmap; KEYS[5]: the snapshot; KEYS[6]: the outcome; KEYS[7]: the
-- photo's idempotency key; KEYS[8]: the set of failed jobs; KEYS[9]: the job's dead
-- letters; KEYS[10]: its dead feeds; KEYS[11]: the counters of what bounds dropped;
-- KEYS[12]: the author's unfinished jobs; KEYS[13]: a delete job's earlier recipients;
-- KEYS[14]: the job's skip set; KEYS[15]: the photo key (for a delete job: so that the
-- photo's fan-out id expires with the tombstone, and a deleted id is never answered as
-- "already posted"; for a post, the same key as KEYS[7]).
-- (For a delete job the "photo key" is the photo's tombstone: it expires with the job.)
-- ARGV[1]: job id; ARGV[2]: its identity; ARGV[3]: this instance's id; ARGV[4]: chunks
-- planned; ARGV[5]: the outcome if completed; ARGV[6]: the outcome if failed;
-- ARGV[7]: done-bitmap expiry after completion (s); ARGV[8]: expiry of a completed job's
-- record, outcome and photo key (s); ARGV[9]: expiry of a failed job's keys (s);
-- ARGV[10]: now (ms); ARGV[11]: the job hash key with '{id}' for the id (to prune
-- expired failed jobs); ARGV[12]: the number D of dead-lettered ranges; then D times:
-- the range's first chunk bit, its chunk count, its dead letter (JSON).
-- Returns { 0 } changing nothing when the job is not unfinished or not this job (finished
-- elsewhere); { 2, missing } changing nothing when chunks outside the dead ranges are not
-- marked done (the caller runs them again); { 1, completed, dead_feeds, dead_ranges }
-- when the outcome is recorded.
-- Completed means every planned chunk is marked done and no feed was skipped: a dead
-- range whose chunks turn out done (a timed-out attempt that did write) is not dead.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HGET', KEYS[3], 'ident') ~= ARGV[2] then
  return { 0 }
end
local done = KEYS[4]
local missing = tonumber(ARGV[4]) - redis.call('BITCOUNT', done)
local dead, dead_missing = {}, 0
local d = tonumber(ARGV[12])
for r = 0, d - 1 do
  local first, count = tonumber(ARGV[13 + 3 * r]), tonumber(ARGV[14 + 3 * r])
  local undone = 0
  for bit = first, first + count - 1 do
    undone = undone + 1 - redis.call('GETBIT', done, string.format('%d', bit))
  end
  if undone > 0 then
    dead_missing = dead_missing + undone
    dead[#dead + 1] = ARGV[15 + 3 * r]
  end
end
if missing > dead_missing then
  return { 2, missing - dead_missing }
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[12], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
local dead_feeds = redis.call('HLEN', KEYS[10])
if missing == 0 and dead_feeds == 0 then
  redis.call('SET', KEYS[6], ARGV[5])
  redis.call('DEL', KEYS[5], KEYS[9], KEYS[10], KEYS[13], KEYS[14])
  -- An attempt that timed out may still be running: it must keep finding its chunks done.
  redis.call('EXPIRE', done, ARGV[7])
  for _, key in ipairs({ KEYS[3], KEYS[6], KEYS[7], KEYS[15] }) do
    redis.call('EXPIRE', key, ARGV[8])
  end
  return { 1, 1, 0, 0 }
end
-- Failed: everything `fanout retry-dead` needs is kept, for a bounded time.
redis.call('SET', KEYS[6], ARGV[6])
redis.call('DEL', KEYS[9])
if #dead > 0 then
  redis.call('RPUSH', KEYS[9], unpack(dead))
end
redis.call('ZADD', KEYS[8], ARGV[10], ARGV[1])
for _, key in ipairs({ KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[13], KEYS[14], KEYS[15] }) do
  redis.call('EXPIRE', key, ARGV[9])
end
-- Failed jobs whose keys have expired leave the failed set here, a few at a time, counted.
local horizon = tonumber(ARGV[10]) - tonumber(ARGV[9]) * 1000
local old = redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', string.format('%d', horizon), 'LIMIT', 0, 100)
for _, id in ipairs(old) do
  if redis.call('EXISTS', (string.gsub(ARGV[11], '{id}', id))) == 0 then
    redis.call('ZREM', KEYS[8], id)
    redis.call('HINCRBY', KEYS[11], 'failed_expired', 1)
  else
    -- Still kept (a first-release failed job has no expiry): looked at again a period on.
    redis.call('ZADD', KEYS[8], ARGV[10], id)
  end
end
return { 1, 0, dead_feeds, #dead }
