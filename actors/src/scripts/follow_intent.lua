-- On a cluster, a follow or unfollow is two steps on two nodes (the follower list, then the
-- feed), so it is recorded first as an intent in the ledger: the pair's one change in
-- progress. A caller claims it before the first step and releases it after the second; an
-- intent whose caller died or stalled (its claim lapsed) is taken over by the next change
-- of the same pair, or by an instance's sweep, which runs both steps again (each is
-- idempotent).
-- KEYS[1]: the intents (a hash: field 'follower:author', value 'op token deadline-ms
-- earlier', earlier being the op of the lapsed claim this one replaced, or '-').
-- ARGV[1]: the field; ARGV[2]: 'claim', 'renew', 'release' or 'hand_back'; ARGV[3]: the
-- caller's token; ARGV[4]: for a claim, the op ('follow' or 'unfollow'); for a renewal,
-- how long (ms) it lasts; for a hand-back, the op of the change the caller took over;
-- ARGV[5] (claim): how long (ms) the claim lasts; ARGV[6] (claim by a sweep): the intent
-- as the sweep read it: it is taken over only if it is still exactly that (a newer change
-- of the pair may have replaced it, and must not be undone by an older one run again).
-- Returns, for a claim: { 'busy' } when another caller's live claim holds the pair,
-- { 'gone' } (a sweep's claim) when the intent is no longer the one it read,
-- { 'claimed' }, or { 'taken_over', op } when it replaced a lapsed claim (whose op may have
-- done only its first step; a claim sent again answers as the first did). For a renewal,
-- a release, or a hand-back (the taken-over change put back, lapsed, for a sweep to
-- finish, when the caller's own change was refused): 1 when done, 0 when the caller no
-- longer holds it.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local field = ARGV[1]
local held = redis.call('HGET', KEYS[1], field)
local op, token, deadline, earlier
if held then
  op, token, deadline, earlier = string.match(held, '^(%S+) (%S+) (%d+) ?(%S*)$')
end
if earlier == nil or earlier == '' then
  earlier = '-'
end
local function set(new_op, until_ms, replaced)
  redis.call('HSET', KEYS[1], field, new_op .. ' ' .. ARGV[3] .. ' ' .. string.format('%d', until_ms) .. ' ' .. replaced)
end
local function claimed(replaced)
  if replaced == '-' then
    return { 'claimed' }
  end
  return { 'taken_over', replaced }
end
if ARGV[2] ~= 'claim' then
  if not held or token ~= ARGV[3] then
    return 0
  end
  if ARGV[2] == 'release' then
    redis.call('HDEL', KEYS[1], field)
  elseif ARGV[2] == 'renew' then
    set(op, now_ms + tonumber(ARGV[4]), earlier)
  else
    set(ARGV[4], 0, '-')
  end
  return 1
end
if held and token == ARGV[3] then
  -- Sent again (the first reply was lost): the same answer.
  return claimed(earlier)
end
if ARGV[6] and held ~= ARGV[6] then
  return { 'gone' }
end
if held and tonumber(deadline or '0') > now_ms then
  return { 'busy' }
end
-- A value that does not parse is replaced as if it named no change ('?').
local replaced = held and (op or '?') or '-'
set(ARGV[4], now_ms + tonumber(ARGV[5]), replaced)
return claimed(replaced)
