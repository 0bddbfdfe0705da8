-- Renews this instance's leases. A lease that lapsed without anyone taking it is taken
-- back. KEYS: the lease keys; ARGV[1]: this instance's id; ARGV[2]: lease length (ms).
-- Returns the (1-based) positions of the leases another instance now holds.
local lost = {}
for i, lease in ipairs(KEYS) do
  local holder = redis.call('GET', lease)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', lease, ARGV[2])
  elseif not redis.call('SET', lease, ARGV[1], 'NX', 'PX', ARGV[2]) then
    table.insert(lost, i)
  end
end
return lost
