-- Shared by follow.lua and follow_slot_list.lua: F into A's follower list, once. Expects
-- `list_key`, `follower`, `slice` (the most entries one script compares), `token` and
-- `upto` (with a scan: the positions 0..upto it found F not in) and `release()`. Answers
-- 'scan' when the part still to search is longer than a slice, 'already' when F is listed.
local len = redis.call('LLEN', list_key)
local from = token == '' and 0 or tonumber(upto)
if len - from > slice then
  return { 'scan' }
end
if len > from and redis.call('LPOS', list_key, follower, 'RANK', '-1', 'MAXLEN', string.format('%d', len - from)) then
  release()
  return { 'already' }
end
redis.call('RPUSH', list_key, follower)
