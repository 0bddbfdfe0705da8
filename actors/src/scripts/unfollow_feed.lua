-- Shared by unfollow.lua and unfollow_slot_feed.lua: A's photos out of F's feed. Expects
-- `photos` (a list) and `gone` (the same as a set), `feed_key`, `layout`, `cap` (only the
-- first that many entries are looked at and rewritten) and `replace_head`; sets `taken`.
local taken = 0
if #photos > 0 then
  if layout == 'zset' then
    for s = 1, #photos, 1000 do
      taken = taken + redis.call('ZREM', feed_key, unpack(photos, s, math.min(s + 999, #photos)))
    end
  else
    local feed = redis.call('LRANGE', feed_key, '0', string.format('%d', cap - 1))
    local kept = {}
    for _, e in ipairs(feed) do
      if not gone[e] then
        kept[#kept + 1] = e
      end
    end
    taken = #feed - #kept
    if taken > 0 then
      replace_head(feed_key, #feed, kept, #kept)
    end
  end
end
