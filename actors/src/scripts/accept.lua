-- Accepts a fan-out, atomically, or finds the photo's existing one.
-- A new job gets: its record, the follower count, its identity, a place in the set of
-- unfinished jobs, and a lease held by the accepting instance. Constant time whatever the
-- follower count: the snapshot of the list is taken right after (snapshot.lua).
-- KEYS[1]: the author's follower list; KEYS[2]: the photo's idempotency key; KEYS[3]: the
--          set of unfinished jobs; KEYS[4..7]: the new job's hash, lease, done-bitmap and
--          snapshot; KEYS[8]: the author's unfinished jobs (a set); KEYS[9]: the photo's
--          tombstone; KEYS[10], KEYS[12]: the author's recent posts and their posting times
--          (two lists, position by position); KEYS[11]: the photo's posting time (what a
--          follow merges a list feed by).
-- ARGV[1]: the encoded job record; ARGV[2]: the job hash key with '{id}' for the id (to
--          look at the photo's existing job); ARGV[3]: the same for its lease; ARGV[4]:
--          this instance's id; ARGV[5]: lease length (ms); ARGV[6]: the new job's id
--          (random, chosen by the caller: a counter would be handed out again after a Redis
--          rollback); ARGV[7]: its identity 'author:photo'; ARGV[8]: its score in the set
--          of unfinished jobs (accepted at, ms); ARGV[9]: the most unfinished jobs the
--          author may have; ARGV[10]: how many recent posts the author keeps (feed.max_len);
--          ARGV[11]: when the photo was posted (ms, zero-padded to 16 digits: scripts compare
--          times as strings); ARGV[12]: how long its posting time is kept (s); ARGV[13]
--          (on a Redis Cluster, where the follower list is in another slot and KEYS[1] is
--          a key of the ledger's slot that does not exist): the list's length, read just
--          before.
-- Returns { 0, id, followers } for a new job; { 1, id, ours } when the photo already has
-- one by the same author (ours = 1 when this instance holds its lease); { 2, '', 0 } when
-- the random id is taken (the caller draws another); { 3, '', active } when the author
-- already has that many unfinished jobs.
-- A deleted photo: an error DELETED with the deleting job's id, or CONFLICT when another
-- author deleted it.
-- Every check comes before the first write: a refusal writes nothing.
local deleting = redis.call('GET', KEYS[9])
if deleting then
  local ident = redis.call('HGET', (string.gsub(ARGV[2], '{id}', deleting)), 'ident')
  local author = ident and string.match(ident, '^([^:]*)')
  if author and ident ~= ARGV[7] then
    return redis.error_reply('CONFLICT ' .. author .. ' ' .. deleting)
  end
  return redis.error_reply('DELETED ' .. deleting)
end
local existing = redis.call('GET', KEYS[2])
if existing then
  local job = (string.gsub(ARGV[2], '{id}', existing))
  if redis.call('EXISTS', job) == 0 then
    -- Set aside (quarantined), or its record expired: the photo keeps its one fan-out.
    return redis.error_reply('GONE fan-out ' .. existing .. ' of this photo was set aside or has expired; see fanout:quarantine')
  end
  -- A job of the first release has no identity; the caller compares its record instead.
  local ident = redis.call('HGET', job, 'ident')
  if ident and ident ~= ARGV[7] then
    local author = string.match(ident, '^([^:]*)')
    return redis.error_reply('CONFLICT ' .. author .. ' ' .. existing)
  end
  -- Ours when this instance holds its lease: a resent request whose first reply was lost.
  local lease = (string.gsub(ARGV[3], '{id}', existing))
  local ours = redis.call('GET', lease) == ARGV[4] and 1 or 0
  return { 1, existing, ours }
end
local found = redis.call('TYPE', KEYS[1]).ok
if found ~= 'list' and found ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. found .. ', expected a list')
end
for _, key in ipairs({ KEYS[10], KEYS[12] }) do
  local found = redis.call('TYPE', key).ok
  if found ~= 'list' and found ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a list')
  end
end
if redis.call('EXISTS', KEYS[4], KEYS[5], KEYS[6], KEYS[7]) > 0 then
  return { 2, '', 0 }
end
-- The quota: ids that left the unfinished set without a finish (set aside, expired) are
-- pruned only here, when they would refuse a post, so the check costs one SCARD.
local limit = tonumber(ARGV[9])
if redis.call('SCARD', KEYS[8]) >= limit then
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[8])) do
    if not redis.call('ZSCORE', KEYS[3], id) then
      redis.call('SREM', KEYS[8], id)
    end
  end
  local active = redis.call('SCARD', KEYS[8])
  if active >= limit then
    return { 3, '', active }
  end
end
local followers = ARGV[13] and tonumber(ARGV[13]) or redis.call('LLEN', KEYS[1])
redis.call('HSET', KEYS[4], 'record', ARGV[1], 'followers', followers, 'ident', ARGV[7])
redis.call('SET', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[6])
redis.call('SADD', KEYS[8], ARGV[6])
redis.call('SET', KEYS[5], ARGV[4], 'PX', ARGV[5])
-- What a follow merges in and an unfollow or a delete removes: photo and posting time.
local photo = string.match(ARGV[7], ':(.*)$')
local last = string.format('%d', tonumber(ARGV[10]) - 1)
redis.call('LPUSH', KEYS[10], photo)
redis.call('LTRIM', KEYS[10], '0', last)
redis.call('LPUSH', KEYS[12], ARGV[11])
redis.call('LTRIM', KEYS[12], '0', last)
redis.call('SET', KEYS[11], ARGV[11], 'EX', ARGV[12])
return { 0, ARGV[6], followers }
