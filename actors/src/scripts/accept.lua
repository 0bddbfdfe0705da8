-- Accepts a fan-out, atomically: checks the follower key's type, hands out a job id, and
-- snapshots the follower list into the job's own copy, so that follows and unfollows
-- during the fan-out cannot shift list positions under the job's ranges.
-- KEYS[1]: the author's follower list; KEYS[2]: the job id counter.
-- ARGV[1]: the snapshot key with '{id}' in place of the job id; ARGV[2]: its expiry (s).
-- Returns { follower count, job id }. Writes nothing when the key has the wrong type.
local found = redis.call('TYPE', KEYS[1]).ok
if found ~= 'list' and found ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. found .. ', expected a list')
end
local id = redis.call('INCR', KEYS[2])
local followers = redis.call('LLEN', KEYS[1])
if followers > 0 then
  local snapshot = string.gsub(ARGV[1], '{id}', id)
  redis.call('COPY', KEYS[1], snapshot, 'REPLACE')
  redis.call('EXPIRE', snapshot, ARGV[2])
end
return { followers, id }
