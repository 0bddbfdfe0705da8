-- Renews this instance's leases. A lease that lapsed without anyone taking it is taken
-- back, unless its job has finished meanwhile (another instance completed it) or is no
-- longer the job this instance runs (its identity differs: Redis rolled back and the id
-- means nothing here any more).
-- KEYS[1]: the set of unfinished jobs; then, per job, its lease key and its hash.
-- ARGV[1]: this instance's id; ARGV[2]: lease length (ms); then, per job, its id and its
-- identity ('author:photo'), in the order of the keys.
-- Returns the (1-based) positions of the jobs this instance must stop running.
local lost = {}
for j = 1, (#KEYS - 1) / 2 do
  local lease, job = KEYS[2 * j], KEYS[2 * j + 1]
  local id, ident = ARGV[2 * j + 1], ARGV[2 * j + 2]
  if not redis.call('ZSCORE', KEYS[1], id) or redis.call('HGET', job, 'ident') ~= ident then
    table.insert(lost, j)
  elseif redis.call('GET', lease) == ARGV[1] then
    redis.call('PEXPIRE', lease, ARGV[2])
  elseif not redis.call('SET', lease, ARGV[1], 'NX', 'PX', ARGV[2]) then
    table.insert(lost, j)
  end
end
return lost
