-- The body of writing dead feeds again, shared by retry_dead_feeds.lua (one server) and
-- retry_slot.lua (a cluster slot's part). Each feed that takes the photo leaves the dead
-- feeds (the hash `dead_feeds`) in the same step, so it is written exactly once; one still
-- of the wrong type stays recorded, with what it holds now. Expects `followers` (those to
-- write), `dead_feeds`, `skip_set`, `photo`, `cap`, `layout`, `score`, `head` and `tail`
-- (the feed key pattern around the follower id); counts `written` and `dead`.
local written, dead = 0, 0
for _, follower in ipairs(followers) do
  local key = head .. follower .. tail
  local r
  if redis.call('SISMEMBER', skip_set, follower) == 1 then
    redis.call('HDEL', dead_feeds, follower)
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
    redis.call('HDEL', dead_feeds, follower)
    written = written + 1
  elseif string.sub(r.err, 1, 9) == 'WRONGTYPE' then
    local entry = cjson.encode({ key = key, found = redis.call('TYPE', key).ok, expected = layout })
    redis.call('HSET', dead_feeds, follower, entry)
    dead = dead + 1
  else
    -- Out of memory or another refusal: nothing of this feed was written; stop here, the
    -- rest stays recorded for the next try.
    return r
  end
end
