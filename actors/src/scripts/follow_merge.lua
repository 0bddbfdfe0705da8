-- Shared by follow.lua and follow_slot_feed.lua: A's recent photos merged into F's feed,
-- newest first, each once, capped. Expects `photos` and `ats` (A's recent posts and their
-- posting times, position by position), `feed_key`, `layout`, `cap`, `times_of(entries)`
-- (the posting times fanout recorded for feed entries, `false` where it has none),
-- `release()` and `replace_head`. Answers { 'followed', photos merged }.
-- A's recent posts, newest first by posting time (the lists are by acceptance).
for i = #ats + 1, #photos do
  ats[i] = ''
end
-- Usually sorted already (accepted in posting order): then no sort.
for i = 2, #ats do
  if ats[i] > ats[i - 1] then
    local order = {}
    for j = 1, #ats do
      order[j] = j
    end
    table.sort(order, function(x, y)
      if ats[x] ~= ats[y] then
        return ats[x] > ats[y]
      end
      return x < y
    end)
    local p, t = {}, {}
    for j, k in ipairs(order) do
      p[j], t[j] = photos[k], ats[k]
    end
    photos, ats = p, t
    break
  end
end
if #photos == 0 then
  release()
  return { 'followed', 0 }
end
local merged = 0
if layout == 'zset' then
  local args = {}
  for i = 1, #photos do
    args[#args + 1] = ats[i] ~= '' and ats[i] or '0'
    args[#args + 1] = photos[i]
  end
  local added = redis.call('ZADD', feed_key, 'NX', unpack(args))
  local trimmed = redis.call('ZREMRANGEBYRANK', feed_key, '0', string.format('%d', -(cap + 1)))
  release()
  -- What the trim took were the oldest: A's at most as many as were added.
  return { 'followed', math.max(added - trimmed, 0) }
end
-- The list layout: F's feed entries get the posting times fanout recorded (one MGET of
-- their time keys). An entry without one (posted too long ago, or written by something
-- else) counts as old as the next timed entry below it, or as older than any photo merged
-- in when none is below: the feed is in arrival order. A's photos go before the first
-- entry older than they are; the entries already there keep their order. Only the first
-- `cap` entries are looked at and rewritten (any beyond, a feed over its cap, stay as
-- they are), so the work is bounded by the cap, whatever the feed's length.
local feed = redis.call('LRANGE', feed_key, '0', string.format('%d', cap - 1))
local present = {}
for _, e in ipairs(feed) do
  present[e] = true
end
local fresh, fresh_at = {}, {}
for i = 1, #photos do
  if not present[photos[i]] then
    fresh[#fresh + 1], fresh_at[#fresh + 1] = photos[i], ats[i]
    present[photos[i]] = true
  end
end
if #fresh == 0 then
  release()
  return { 'followed', 0 }
end
local times = times_of(feed)
local below = ''
for i = #feed, 1, -1 do
  if times[i] then
    below = times[i]
  else
    times[i] = below
  end
end
-- `merged` counts A's photos that land within the cap.
local out, next = {}, 1
local function take()
  if #out < cap then
    merged = merged + 1
  end
  out[#out + 1] = fresh[next]
  next = next + 1
end
for i, e in ipairs(feed) do
  while next <= #fresh and fresh_at[next] > times[i] do
    take()
  end
  out[#out + 1] = e
end
while next <= #fresh do
  take()
end
local keep = math.min(#out, cap)
replace_head(feed_key, #feed, out, keep)
release()
return { 'followed', merged }
