-- Accepts the deletion of a photo, atomically, as a job in the ledger, or finds the photo's
-- existing one. From this script on nothing writes the photo into a feed: the tombstone it
-- sets is checked by every chunk of the photo's fan-out (and by retry-dead), and the photo
-- leaves the author's recent posts, so no follow merges it in.
-- KEYS[1]: the author's follower list; KEYS[2]: the photo's idempotency key (its fan-out);
-- KEYS[3]: the photo's tombstone; KEYS[4]: the set of unfinished jobs; KEYS[5..8]: the new
-- job's hash, lease, done-bitmap and snapshot; KEYS[9]: the author's unfinished jobs;
-- KEYS[10]: the author's recent posts; KEYS[11]: the new job's earlier recipients;
-- KEYS[12]: the posting times of the author's recent posts (position by position);
-- KEYS[13]: the set of failed jobs (a failed fan-out of the photo leaves it: nothing of it
-- is to be retried any more).
-- ARGV[1]: the encoded job record; ARGV[2]: the job hash key with '{id}' for the id;
-- ARGV[3]: the same for a lease; ARGV[4]: this instance's id; ARGV[5]: lease length (ms);
-- ARGV[6]: the new job's id (random); ARGV[7]: its identity 'author:photo'; ARGV[8]: its
-- score among the unfinished jobs (accepted at, ms); ARGV[9]: the same as ARGV[2] for a
-- job's snapshot; ARGV[10] (on a Redis Cluster, where the follower list is in another slot
-- and KEYS[1] is a key of the ledger's slot that does not exist): the list's length, read
-- just before.
-- The recipients are the author's followers (the snapshot, taken right after, as for a
-- post) plus, when the photo's fan-out has a snapshot still (running, or failed and kept
-- for retry-dead), that snapshot: it is moved to KEYS[11], in constant time.
-- Returns { 0, id, followers } for a new job; { 1, id, ours } when the photo is already
-- being (or has been) deleted by the same author; { 2, '', 0 } when the random id is
-- taken. Errors: NOTPOSTED when the author never posted the photo (as far as fanout
-- knows: its fan-out or the author's recent posts), CONFLICT author id when another
-- author posted it. Every check comes before the first write: a refusal writes nothing.
local author = string.match(ARGV[7], '^([^:]*)')
local photo = string.match(ARGV[7], ':(.*)$')
local function author_of(id)
  local ident = redis.call('HGET', (string.gsub(ARGV[2], '{id}', id)), 'ident')
  return ident and string.match(ident, '^([^:]*)')
end
local deleting = redis.call('GET', KEYS[3])
if deleting then
  local owner = author_of(deleting)
  if owner and owner ~= author then
    return redis.error_reply('CONFLICT ' .. owner .. ' ' .. deleting)
  end
  local lease = (string.gsub(ARGV[3], '{id}', deleting))
  local ours = redis.call('GET', lease) == ARGV[4] and 1 or 0
  return { 1, deleting, ours }
end
local post = redis.call('GET', KEYS[2])
local owned = false
if post then
  local owner = author_of(post)
  if owner and owner ~= author then
    return redis.error_reply('CONFLICT ' .. owner .. ' ' .. post)
  end
  owned = owner == author
end
-- The photo's entry in the author's recent posts (at most feed.max_len of them).
for _, key in ipairs({ KEYS[10], KEYS[12] }) do
  local found = redis.call('TYPE', key).ok
  if found ~= 'list' and found ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a list')
  end
end
local at = redis.call('LPOS', KEYS[10], photo)
if not owned and not at then
  return redis.error_reply('NOTPOSTED author ' .. author .. ' has not posted photo ' .. photo .. ' (or its record has expired)')
end
local found = redis.call('TYPE', KEYS[1]).ok
if found ~= 'list' and found ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. found .. ', expected a list')
end
if redis.call('EXISTS', KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[11]) > 0 then
  return { 2, '', 0 }
end
redis.call('SET', KEYS[3], ARGV[6])
if at then
  -- The same position in both lists: marked, then removed.
  for _, key in ipairs({ KEYS[10], KEYS[12] }) do
    redis.call('LSET', key, string.format('%d', at), '-')
    redis.call('LREM', key, '1', '-')
  end
end
local earlier = 0
if post then
  redis.call('ZREM', KEYS[13], post)
  local snapshot = (string.gsub(ARGV[9], '{id}', post))
  if redis.call('EXISTS', snapshot) == 1 then
    redis.call('RENAME', snapshot, KEYS[11])
    earlier = redis.call('LLEN', KEYS[11])
  end
end
local followers = (tonumber(ARGV[10]) or redis.call('LLEN', KEYS[1])) + earlier
redis.call('HSET', KEYS[5], 'record', ARGV[1], 'followers', followers, 'ident', ARGV[7], 'kind', 'delete')
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6])
redis.call('SADD', KEYS[9], ARGV[6])
redis.call('SET', KEYS[6], ARGV[4], 'PX', ARGV[5])
return { 0, ARGV[6], followers }
