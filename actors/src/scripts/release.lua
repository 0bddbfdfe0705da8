-- Gives back this instance's leases (on shutdown) so another instance takes the jobs over
-- at once. KEYS: the lease keys; ARGV[1]: this instance's id.
for _, lease in ipairs(KEYS) do
  if redis.call('GET', lease) == ARGV[1] then
    redis.call('DEL', lease)
  end
end
return 1
