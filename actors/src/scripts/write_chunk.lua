-- Writes one chunk of a fan-out: all of it, exactly once, or nothing.
-- KEYS[1]: the job's done-bitmap; KEYS[2]: the job's follower snapshot;
-- KEYS[3..]: the feeds of the chunk's followers.
-- ARGV: chunk bit, photo id, feed cap, layout ('list' or 'zset'), score (posted_at, ms).
-- The bitmap has no expiry while the job is unfinished (a crashed job resumes from it).
-- Returns the number of feeds written, -1 when the chunk was already done, or -2 when the
-- job's snapshot is gone: the job has completed (this is a late attempt) and must not be
-- written again, whatever became of its bitmap.
--
-- Redis does not roll back a script that fails half-way, so a failing write undoes the
-- writes before it (nothing is trimmed until every write has succeeded).
local done, bit = KEYS[1], ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -2
end
if redis.call('GETBIT', done, bit) == 1 then
  return -1
end
local photo, cap, layout, score = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local n = #KEYS
local first = 3

local function failed(i, err, undo)
  for j = first, i - 1 do
    undo(j)
  end
  if string.sub(err.err, 1, 9) == 'WRONGTYPE' then
    local found = redis.call('TYPE', KEYS[i]).ok
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. found .. ', expected a ' .. layout)
  end
  return err
end

if layout == 'list' then
  local undo = function(j) redis.call('LPOP', KEYS[j]) end
  for i = first, n do
    local r = redis.pcall('LPUSH', KEYS[i], photo)
    if type(r) == 'table' and r.err then
      return failed(i, r, undo)
    end
  end
  for i = first, n do
    redis.call('LTRIM', KEYS[i], 0, cap - 1)
  end
else
  -- NX leaves an existing entry (and its score) untouched, so undo only removes what we added.
  local added = {}
  local undo = function(j) if added[j] == 1 then redis.call('ZREM', KEYS[j], photo) end end
  for i = first, n do
    local r = redis.pcall('ZADD', KEYS[i], 'NX', score, photo)
    if type(r) == 'table' and r.err then
      return failed(i, r, undo)
    end
    added[i] = r
  end
  for i = first, n do
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(cap + 1))
  end
end

redis.call('SETBIT', done, bit, 1)
return n - first + 1
