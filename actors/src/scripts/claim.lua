-- Takes over an unfinished job whose lease has lapsed (its owner died or let go), or
-- whose lease this instance already holds (its acceptance reply was lost, or its finish
-- found chunks missing after a Redis rollback).
-- KEYS[1]: the set of unfinished jobs; KEYS[2]: the job's lease; KEYS[3]: the job hash;
-- KEYS[4]: its done-bitmap.
-- ARGV[1]: the job id; ARGV[2]: this instance's id; ARGV[3]: lease length (ms);
-- ARGV[4]: the newest record format version this instance reads; ARGV[5]: the highest
-- first byte taken for a newer version (beyond it the record is corrupt, and claimed to be
-- quarantined).
-- Returns nil when the job is finished or another instance holds it; { 'newer', version, … }
-- when its record is of a newer format (left alone, lease not taken: a newer instance
-- runs it); otherwise { 'ok', record, followers, done-bitmap, ident } (empty strings for
-- what is missing or unreadable).
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return nil
end
local job = redis.pcall('HMGET', KEYS[3], 'record', 'followers', 'ident')
if type(job) ~= 'table' or job.err then
  job = {}
end
local record = job[1] or ''
local version = #record > 0 and string.byte(record, 1) or 0
if version > tonumber(ARGV[4]) and version <= tonumber(ARGV[5]) then
  return { 'newer', tostring(version), '', '', '' }
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
elseif not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return nil
end
local done = redis.pcall('GET', KEYS[4])
if type(done) ~= 'string' then
  done = ''
end
return { 'ok', record, job[2] or '', done, job[3] or '' }
