-- Renews this instance's leases. A lease that lapsed without anyone taking it is taken
-- back, unless its job has finished meanwhile (another instance completed it).
-- KEYS[1]: the set of unfinished jobs; KEYS[2..]: the lease keys.
-- ARGV[1]: this instance's id; ARGV[2]: lease length (ms); ARGV[3..]: the job ids, in the
-- order of the lease keys.
-- Returns the (1-based) positions of the jobs this instance must stop running.
local lost = {}
for i = 2, #KEYS do
  local lease, id = KEYS[i], ARGV[i + 1]
  if not redis.call('ZSCORE', KEYS[1], id) then
    table.insert(lost, i - 1)
  elseif redis.call('GET', lease) == ARGV[1] then
    redis.call('PEXPIRE', lease, ARGV[2])
  elseif not redis.call('SET', lease, ARGV[1], 'NX', 'PX', ARGV[2]) then
    table.insert(lost, i - 1)
  end
end
return lost
