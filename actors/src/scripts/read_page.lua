-- A page of a home feed, newest first, in one step: the cursor's position and the page
-- are read at the same moment, so a photo pushed meanwhile neither repeats nor skips one.
-- KEYS[1]: the feed.
-- ARGV[1]: the layout, 'list' or 'zset'; ARGV[2]: the photo id the page starts after, or
-- '' for the newest; ARGV[3]: entries wanted; ARGV[4]: feed.max_len (nothing beyond it is
-- read).
-- Returns { ids, more } (more = 1 when entries within max_len follow the page), or false
-- when the cursor is not within the first max_len entries.
local key, layout, before = KEYS[1], ARGV[1], ARGV[2]
local limit, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local start = 0
if before ~= '' then
  local pos
  if layout == 'list' then
    pos = redis.call('LPOS', key, before, 'MAXLEN', cap)
  else
    pos = redis.call('ZREVRANK', key, before)
  end
  if not pos or pos >= cap then
    return false
  end
  start = pos + 1
end
local stop = math.min(start + limit, cap) - 1
if stop < start then
  return { {}, 0 }
end
local ids, len
if layout == 'list' then
  ids, len = redis.call('LRANGE', key, start, stop), redis.call('LLEN', key)
else
  ids, len = redis.call('ZREVRANGE', key, start, stop), redis.call('ZCARD', key)
end
local more = (stop + 1 < cap and stop + 1 < len) and 1 or 0
return { ids, more }
