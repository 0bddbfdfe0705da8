-- On a cluster: marks a chunk done in the job's ledger bitmap once every slot's part of it
-- has been written (write_slot.lua), and records the dead feeds those parts skipped. The
-- parts' own marks are what guard the writes; this bitmap is what the coordinator plans
-- from and what the finish checks against the parts' marks.
-- KEYS[1]: the job hash (its identity); KEYS[2]: its done-bitmap; KEYS[3]: its dead feeds.
-- ARGV[1]: the chunk bit; ARGV[2]: the job's identity; ARGV[3..]: dead feeds, follower and
-- entry in turn.
-- Returns 1, or 0 when the job is not this one (finished and expired, or rolled back past):
-- nothing is written then.
if redis.call('HGET', KEYS[1], 'ident') ~= ARGV[2] then
  return 0
end
if #ARGV > 2 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 3))
end
redis.call('SETBIT', KEYS[2], ARGV[1], '1')
return 1
