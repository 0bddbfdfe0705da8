-- Writes one chunk of a fan-out: all of it, exactly once, or nothing; a feed of the wrong
-- type is skipped and recorded by itself, so one bad feed does not hold back its neighbours.
-- KEYS[1]: the job's done-bitmap; KEYS[2]: the job's follower snapshot; KEYS[3]: the job
-- hash (its identity); KEYS[4]: the job's dead feeds; KEYS[5]: the photo's tombstone;
-- KEYS[6]: the job's skip set (followers who followed or unfollowed the author while the
-- job ran: the follow merged the photo in, the unfollow took it out; neither may get it
-- from here). Both are absent almost always: one EXISTS per chunk checks the two.
-- ARGV: chunk bit, first and last position of the chunk in the snapshot, photo id, feed cap,
-- layout ('list' or 'zset'), score (posted_at, ms), the feed key pattern split around the
-- follower id (head, tail), the job's identity ('author:photo'), and how many dead feeds
-- the job may record in all. Layout, pattern and cap come from the job's record, not from
-- the settings of the process running the chunk.
-- The followers are read here, inside Redis, so no follower id crosses the wire; the feed
-- keys are built here too, which is why this script needs a single Redis (not a Cluster).
-- The bitmap has no expiry while the job is unfinished (a crashed job resumes from it).
-- Returns the number of feeds written (skipped feeds not counted), -1 when the chunk was
-- already done, or -2 when the job is not the one the caller runs (its identity differs or
-- is gone: Redis rolled back past its acceptance, or it finished and expired) or its
-- snapshot is gone or short (the job has completed; this is a late attempt): nothing may
-- be written then, whatever became of its bitmap; -3 when the photo has been deleted: the
-- chunk is marked done without writing (the delete's job removes what earlier chunks wrote).
--
-- A push of the wrong type is recorded in the dead feeds (follower → key, found, expected)
-- and the chunk goes on; once the job has recorded its maximum, the chunk fails instead.
-- Redis does not roll back a script that fails half-way, so a push that fails the chunk
-- (a feed of the wrong type past that maximum, Redis out of memory) undoes the pushes
-- before it, newest first, restoring what trimming took away. Nothing after the pushes
-- can fail: the cap is bounded by the settings (feed.max_len) and formatted as an integer.
--
-- Speed matters here: every redis.call costs about as much as the command itself, so a feed
-- is trimmed only when the push took it over the cap, and numbers passed to redis.call are
-- strings (Lua would format a number through printf on every call). The identity check is
-- one call per chunk, not per feed.
local done, bit = KEYS[1], ARGV[1]
if redis.call('HGET', KEYS[3], 'ident') ~= ARGV[10] then
  return -2
end
local stops = redis.call('EXISTS', KEYS[5], KEYS[6])
if stops > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('SETBIT', done, bit, '1')
  return -3
end
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local followers = redis.call('LRANGE', KEYS[2], ARGV[2], ARGV[3])
local n = #followers
if n ~= last - first + 1 then
  return -2
end
if redis.call('GETBIT', done, bit) == 1 then
  return -1
end
if stops > 0 then
  local skip, kept = {}, {}
  for _, f in ipairs(redis.call('SMEMBERS', KEYS[6])) do
    skip[f] = true
  end
  for i = 1, n do
    if not skip[followers[i]] then
      kept[#kept + 1] = followers[i]
    end
  end
  followers, n = kept, #kept
end
local photo, cap, layout, score = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local head, tail = ARGV[8], ARGV[9]
local over = cap + 1
-- Keys are rebuilt rather than kept in a table (the write loops build theirs inline, for the
-- same reason): a table costs every write, undo is rare.
local function key_of(i)
  return head .. followers[i] .. tail
end

-- Feeds skipped (by position in the chunk), and how many more the job may record.
local skipped, room = {}, nil
local written = n

-- Records feed i as dead when err is a wrong type and the job may record one more.
local function skip(i, err)
  if string.sub(err.err, 1, 9) ~= 'WRONGTYPE' then
    return false
  end
  if room == nil then
    local recorded = redis.pcall('HLEN', KEYS[4])
    if type(recorded) ~= 'number' then
      return false
    end
    room = tonumber(ARGV[11]) - recorded
  end
  if room <= 0 then
    return false
  end
  local key = key_of(i)
  local entry = cjson.encode({ key = key, found = redis.call('TYPE', key).ok, expected = layout })
  if type(redis.pcall('HSET', KEYS[4], followers[i], entry)) ~= 'number' then
    return false
  end
  room, skipped[i], written = room - 1, true, written - 1
  return true
end

local function failed(i, err, undo)
  -- Newest first: a follower listed twice in the chunk gets its feed back in order.
  for j = i - 1, 1, -1 do
    if not skipped[j] then
      undo(j)
    end
  end
  -- The chunk will run again and skip them again; an entry left behind by a feed that is
  -- repaired meanwhile would have `retry-dead` write it a second time.
  for j in pairs(skipped) do
    redis.call('HDEL', KEYS[4], followers[j])
  end
  if string.sub(err.err, 1, 9) == 'WRONGTYPE' then
    local key = key_of(i)
    local found = redis.call('TYPE', key).ok
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a ' .. layout)
  end
  return err
end

if layout == 'list' then
  -- What trimming removed from each feed: the entry, or a table of them in RPOP's order
  -- (the oldest first) when the feed was more than one over the cap.
  local trimmed = {}
  local undo = function(j)
    local key = key_of(j)
    redis.call('LPOP', key)
    local t = trimmed[j] or {}
    if type(t) ~= 'table' then
      t = { t }
    end
    local back = {}
    for k = #t, 1, -1 do
      back[#back + 1] = t[k]
    end
    -- In slices: unpack has a limit, and a feed far over a lowered cap gives back a lot.
    for from = 1, #back, 1000 do
      redis.call('RPUSH', key, unpack(back, from, math.min(from + 999, #back)))
    end
  end
  for i = 1, n do
    local key = head .. followers[i] .. tail
    local len = redis.pcall('LPUSH', key, photo)
    if type(len) == 'table' then
      if not skip(i, len) then
        return failed(i, len, undo)
      end
    elseif len == over then
      -- The steady state: a full feed, one entry over.
      trimmed[i] = redis.call('RPOP', key)
    elseif len > cap then
      -- The cap was lowered since: this copies the feed's whole excess into Lua (kept for
      -- undo), once per feed.
      trimmed[i] = redis.call('RPOP', key, string.format('%d', len - cap))
    end
  end
else
  -- NX leaves an existing entry (and its score) untouched, so undo only removes what we
  -- added; the trim waits until every write has succeeded.
  local added = {}
  local undo = function(j)
    if added[j] == 1 then
      redis.call('ZREM', key_of(j), photo)
    end
  end
  for i = 1, n do
    local r = redis.pcall('ZADD', key_of(i), 'NX', score, photo)
    if type(r) == 'table' then
      if not skip(i, r) then
        return failed(i, r, undo)
      end
    else
      added[i] = r
    end
  end
  local beyond = string.format('%d', -over)
  for i = 1, n do
    if not skipped[i] then
      redis.call('ZREMRANGEBYRANK', key_of(i), '0', beyond)
    end
  end
end

redis.call('SETBIT', done, bit, '1')
return written
