-- Replaces the first `n` entries of list `key` with `list[1..keep]`, keeping the rest and
-- the key's expiry.
local function replace_head(key, n, list, keep)
  local ttl = redis.call('PTTL', key)
  if redis.call('LLEN', key) > n then
    redis.call('LTRIM', key, string.format('%d', n), '-1')
    -- LPUSH puts its last argument first: push the entries last to first.
    local rev = {}
    for i = keep, 1, -1 do
      rev[#rev + 1] = list[i]
    end
    for i = 1, keep, 1000 do
      redis.call('LPUSH', key, unpack(rev, i, math.min(i + 999, keep)))
    end
  else
    redis.call('DEL', key)
    for i = 1, keep, 1000 do
      redis.call('RPUSH', key, unpack(list, i, math.min(i + 999, keep)))
    end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
end
