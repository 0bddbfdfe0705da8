-- The body of a deletion's chunk, shared by delete_chunk.lua (one server) and
-- delete_slot.lua (a cluster slot's part): the photo out of each follower's feed. Expects
-- `photo`, `layout`, `head`, `tail` (the feed key pattern around the follower id),
-- `followers` and `n` (their count) to be defined.
local function remove_any(key)
  local found = redis.call('TYPE', key).ok
  if found == 'list' then
    redis.call('LREM', key, '1', photo)
  elseif found == 'zset' then
    redis.call('ZREM', key, photo)
  end
end
if layout == 'list' then
  for i = 1, n do
    local key = head .. followers[i] .. tail
    if type(redis.pcall('LREM', key, '1', photo)) == 'table' then
      remove_any(key)
    end
  end
else
  for i = 1, n do
    local key = head .. followers[i] .. tail
    if type(redis.pcall('ZREM', key, photo)) == 'table' then
      remove_any(key)
    end
  end
end
