-- Writes a job's dead feeds again (feeds a chunk skipped because they had the wrong type),
-- when the job resumes after `fanout retry-dead`. Each feed that takes the photo leaves the
-- dead feeds in the same step, so it is written exactly once; one still of the wrong type
-- stays recorded (with what it holds now).
-- KEYS[1]: the job's dead feeds; KEYS[2]: the job hash; KEYS[3]: the photo's tombstone (a
-- deleted photo is written nowhere again: its dead feeds are dropped); KEYS[4]: the job's
-- skip set (those followers' dead feeds are dropped too).
-- ARGV[1]: the job's identity; ARGV[2]: photo id; ARGV[3]: feed cap; ARGV[4]: layout;
-- ARGV[5]: score (posted_at, ms); ARGV[6], ARGV[7]: the feed pattern around the follower id.
-- Returns { written, still dead }, or -2 when the job is not the one the caller runs.
if redis.call('HGET', KEYS[2], 'ident') ~= ARGV[1] then
  return -2
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DEL', KEYS[1])
  return { 0, 0 }
end
local photo, cap, layout, score = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local entries = redis.call('HGETALL', KEYS[1])
local written, dead = 0, 0
for i = 1, #entries, 2 do
  local follower = entries[i]
  local key = ARGV[6] .. follower .. ARGV[7]
  local r
  if redis.call('SISMEMBER', KEYS[4], follower) == 1 then
    redis.call('HDEL', KEYS[1], follower)
  elseif layout == 'list' then
    r = redis.pcall('LPUSH', key, photo)
    if type(r) == 'number' and r > cap then
      redis.call('LTRIM', key, '0', string.format('%d', cap - 1))
    end
  else
    r = redis.pcall('ZADD', key, 'NX', score, photo)
    if type(r) == 'number' then
      redis.call('ZREMRANGEBYRANK', key, '0', string.format('%d', -(cap + 1)))
    end
  end
  if r == nil then
    -- Skipped: followed or unfollowed while the job ran.
  elseif type(r) == 'number' then
    redis.call('HDEL', KEYS[1], follower)
    written = written + 1
  elseif string.sub(r.err, 1, 9) == 'WRONGTYPE' then
    local entry = cjson.encode({ key = key, found = redis.call('TYPE', key).ok, expected = layout })
    redis.call('HSET', KEYS[1], follower, entry)
    dead = dead + 1
  else
    -- Out of memory or another refusal: nothing of this feed was written; stop here, the
    -- rest stays recorded for the next try.
    return r
  end
end
return { written, dead }
