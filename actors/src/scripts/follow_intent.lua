-- On a cluster, a follow or unfollow is two steps on two nodes (the follower list, then the
-- feed), so it is recorded first as an intent in the ledger: the pair's one change in
-- progress. A caller claims it before the first step and releases it after the second; an
-- intent whose caller died (its claim lapsed) is taken over by the next change of the same
-- pair, or by an instance's sweep, which runs both steps again (each is idempotent).
-- KEYS[1]: the intents (a hash: field 'follower:author', value 'op token deadline-ms').
-- ARGV[1]: the field; ARGV[2]: 'claim' or 'release'; ARGV[3]: the caller's token;
-- ARGV[4] (claim): the op ('follow' or 'unfollow'); ARGV[5] (claim): how long (ms) the
-- claim lasts.
-- Returns, for a claim: { 'busy' } when another caller's live claim holds the pair,
-- { 'claimed' }, or { 'taken_over', op } when it replaced a lapsed claim (whose op may have
-- done only its first step); for a release: 1 when released, 0 when no longer held.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local held = redis.call('HGET', KEYS[1], ARGV[1])
local op, token, deadline
if held then
  op, token, deadline = string.match(held, '^(%S+) (%S+) (%d+)$')
end
if ARGV[2] == 'release' then
  if held and token == ARGV[3] then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return 1
  end
  return 0
end
if held and token ~= ARGV[3] and tonumber(deadline or '0') > now_ms then
  return { 'busy' }
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. ' ' .. ARGV[3] .. ' ' .. string.format('%d', now_ms + tonumber(ARGV[5])))
if held and token ~= ARGV[3] then
  return { 'taken_over', op or '' }
end
return { 'claimed' }
