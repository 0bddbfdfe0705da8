-- Shared by follow_slot_feed.lua and unfollow_slot_feed.lua (a cluster change's second
-- step): refuses a feed of another type, writing nothing, then adds the follower to the
-- skip sets in KEYS[2..], each kept ARGV[4] ms. Expects `feed_key`, `layout` and
-- `follower`.
local found = redis.call('TYPE', feed_key).ok
if found ~= 'none' and found ~= layout then
  return redis.error_reply('WRONGTYPE ' .. feed_key .. ' is a ' .. found .. ', expected a ' .. layout)
end
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], follower)
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
