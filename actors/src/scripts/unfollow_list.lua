-- Shared by unfollow.lua and unfollow_slot_list.lua: F out of A's follower list, every
-- occurrence. Expects `list_key`, `follower`, `slice`, `token`, `positions_arg` and `upto`
-- (with a scan: where it found F, comma-separated and ascending, and how far it looked) and
-- `release()`; sets `removed`. Answers 'scan', 'rescan' (the list moved under the scan)
-- or 'not_following'.
-- A list checked in one script keeps its order (LREM). A scanned one (longer than a slice)
-- has each occurrence replaced by its last entry (LSET, RPOP): constant time each, where
-- removing from the middle of a list of millions would block Redis for tens of ms.
local len = redis.call('LLEN', list_key)
local removed = 0
if token == '' then
  if len > slice then
    return { 'scan' }
  end
  removed = redis.call('LREM', list_key, '0', follower)
else
  local from = tonumber(upto)
  if len - from > slice then
    return { 'scan' }
  end
  local positions = {}
  for p in string.gmatch(positions_arg, '%d+') do
    if redis.call('LINDEX', list_key, p) ~= follower then
      release()
      return { 'rescan' }
    end
    positions[#positions + 1] = tonumber(p)
  end
  if len > from then
    local tail = redis.call('LPOS', list_key, follower, 'RANK', '-1', 'COUNT', '0', 'MAXLEN', string.format('%d', len - from))
    for _, p in ipairs(tail) do
      positions[#positions + 1] = p
    end
  end
  table.sort(positions, function(a, b)
    return a > b
  end)
  -- Highest first: an occurrence at the end is popped before it could be moved.
  for _, p in ipairs(positions) do
    local last = redis.call('RPOP', list_key)
    if p < len - 1 then
      redis.call('LSET', list_key, string.format('%d', p), last)
    end
    len = len - 1
  end
  removed = #positions
end
if removed == 0 then
  release()
  return { 'not_following' }
end
