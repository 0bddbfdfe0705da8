-- The feed writes of a chunk, shared by write_chunk.lua (one server) and write_slot.lua (a
-- cluster slot): scripts.rs puts the guard part of either in front of this. It expects
-- `followers` (the ids to write, `n` of them), `photo`, `cap`, `layout` ('list' or 'zset'),
-- `score`, `head` and `tail` (the feed key pattern split around the follower id: for a
-- cluster slot's part, scripts.rs replaces each key built from them by `feeds[i]`),
-- `dead_feeds` (the hash skipped feeds are recorded in) and `max_dead` (how many the job may
-- record); it leaves `written` (feeds that hold the photo now, skipped ones not counted) and
-- returns early only with an error, having undone its writes.
--
-- A push of the wrong type is recorded in the dead feeds (follower -> key, found, expected)
-- and the chunk goes on; once the job has recorded its maximum, the chunk fails instead.
-- Redis does not roll back a script that fails half-way, so a push that fails the chunk
-- (a feed of the wrong type past that maximum, Redis out of memory) undoes the pushes
-- before it, newest first, restoring what trimming took away. Nothing after the pushes
-- can fail: the cap is bounded by the settings (feed.max_len) and formatted as an integer.
--
-- Speed matters here: every redis.call costs about as much as the command itself, so a feed
-- is trimmed only when the push took it over the cap, and numbers passed to redis.call are
-- strings (Lua would format a number through printf on every call).
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
    local recorded = redis.pcall('HLEN', dead_feeds)
    if type(recorded) ~= 'number' then
      return false
    end
    room = max_dead - recorded
  end
  if room <= 0 then
    return false
  end
  local key = key_of(i)
  local entry = cjson.encode({ key = key, found = redis.call('TYPE', key).ok, expected = layout })
  if type(redis.pcall('HSET', dead_feeds, followers[i], entry)) ~= 'number' then
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
    redis.call('HDEL', dead_feeds, followers[j])
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

