-- Accepts a fan-out: snapshots the follower count and hands out a job id, atomically.
-- KEYS[1]: the author's follower list; KEYS[2]: the job id counter.
-- Refuses a follower key of the wrong type before anything is written.
local found = redis.call('TYPE', KEYS[1]).ok
if found ~= 'list' and found ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. found .. ', expected a list')
end
return { redis.call('LLEN', KEYS[1]), redis.call('INCR', KEYS[2]) }
