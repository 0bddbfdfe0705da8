-- On a cluster, a follow or unfollow is two steps on two nodes (the follower list, then the
-- feed), so it is recorded first as an intent in the ledger: the pair's one change in
-- progress. A caller claims it before the first step and releases it after the second; an
-- intent whose caller died (its claim lapsed) is taken over by the next change of the same
-- pair, or by an instance's sweep, which runs both steps again (each is idempotent).
-- KEYS[1]: the intents (a hash: field 'follower:author', value 'op token deadline-ms').
-- ARGV[1]: the field; ARGV[2]: 'claim', 'renew' or 'release'; ARGV[3]: the caller's token;
-- ARGV[4] (claim): the op ('follow' or 'unfollow'); ARGV[5] (claim): how long (ms) the
-- claim lasts; ARGV[6] (claim by a sweep): the intent as the sweep read it: it is taken
-- over only if it is still exactly that (a newer change of the pair may have replaced
-- it, and must not be undone by an older one run again). A claim by the caller that
-- holds it renews it.
-- Returns, for a claim: { 'busy' } when another caller's live claim holds the pair,
-- { 'gone' } (a sweep's claim) when the intent is no longer the one it read,
-- { 'claimed' }, or { 'taken_over', op } when it replaced a lapsed claim (whose op may have
-- done only its first step); for a renewal (ARGV[4]: how long, ms) or a release: 1 when
-- done, 0 when the caller no longer holds it.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local held = redis.call('HGET', KEYS[1], ARGV[1])
local op, token, deadline
if held then
  op, token, deadline = string.match(held, '^(%S+) (%S+) (%d+)$')
end
if ARGV[2] == 'release' or ARGV[2] == 'renew' then
  if not held or token ~= ARGV[3] then
    return 0
  end
  if ARGV[2] == 'release' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], op .. ' ' .. token .. ' ' .. string.format('%d', now_ms + tonumber(ARGV[4])))
  end
  return 1
end
if ARGV[6] and held ~= ARGV[6] then
  return { 'gone' }
end
if held and token ~= ARGV[3] and tonumber(deadline or '0') > now_ms then
  return { 'busy' }
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. ' ' .. ARGV[3] .. ' ' .. string.format('%d', now_ms + tonumber(ARGV[5])))
if held and token ~= ARGV[3] then
  return { 'taken_over', op or '' }
end
return { 'claimed' }
