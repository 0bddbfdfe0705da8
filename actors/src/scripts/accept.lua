-- Accepts a fan-out, atomically, or finds the photo's existing one.
-- A new job gets: an id, its record, the follower count, a place in the set of unfinished
-- jobs, and a lease held by the accepting instance. Constant time whatever the follower
-- count: the snapshot of the list is taken right after (snapshot.lua).
-- KEYS[1]: the author's follower list; KEYS[2]: the job id counter; KEYS[3]: the photo's
--          idempotency key; KEYS[4]: the set of unfinished jobs.
-- ARGV[1]: the encoded job record; ARGV[2..3]: the job and lease keys with '{id}' for the
--          id; ARGV[4]: this instance's id; ARGV[5]: lease length (ms).
-- Returns { 0, id, followers } for a new job, { 1, id, ours } when the photo already has
-- one (ours = 1 when this instance holds its lease).
-- Writes nothing when the follower key has the wrong type.
local existing = redis.call('GET', KEYS[3])
if existing then
  if redis.call('EXISTS', (string.gsub(ARGV[2], '{id}', existing))) == 0 then
    -- Set aside (quarantined), or its record expired: the photo keeps its one fan-out.
    return redis.error_reply('GONE fan-out ' .. existing .. ' of this photo was set aside or has expired; see fanout:quarantine')
  end
  -- Ours when this instance holds its lease: a resent request whose first reply was lost.
  local lease = string.gsub(ARGV[3], '{id}', existing)
  local ours = redis.call('GET', lease) == ARGV[4] and 1 or 0
  return { 1, tonumber(existing), ours }
end
local found = redis.call('TYPE', KEYS[1]).ok
if found ~= 'list' and found ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. found .. ', expected a list')
end
local id = redis.call('INCR', KEYS[2])
local function key(template)
  return (string.gsub(template, '{id}', id))
end
local followers = redis.call('LLEN', KEYS[1])
redis.call('HSET', key(ARGV[2]), 'record', ARGV[1], 'followers', followers)
redis.call('SET', KEYS[3], id)
redis.call('ZADD', KEYS[4], id, id)
redis.call('SET', key(ARGV[3]), ARGV[4], 'PX', ARGV[5])
return { 0, id, followers }
