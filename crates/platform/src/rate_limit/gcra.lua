-- GCRA, the rule of meritree_core::rate_limit::decide, run atomically in
-- Redis so that every instance sharing the server agrees. Keep the two in
-- step: redis.rs tests this script against `decide`.
--
-- KEYS[1]  the key's TAT in Redis-clock milliseconds; it expires when the
--          key is fully refilled, i.e. when forgetting it changes nothing
-- ARGV[1]  emission interval T (ms)
-- ARGV[2]  time to refill completely, burst * T (ms)
-- ARGV[3]  "1" to count the request; "0" to report the decision only
--          (a peek: nothing is written)
-- ARGV[4]  optional, tests only: "now" (ms) instead of the server's clock
--
-- Returns {allowed (1/0), remaining, retry_after_ms, reset_after_ms,
-- new_tat or 0}. Quota caps its period at 2^40 ms so every number here stays
-- below 2^53 and Lua's doubles hold it exactly.

local t = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local record = ARGV[3] == '1'
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  -- Server time, not the caller's: instances with skewed clocks still agree.
  -- (Redis >= 5 replicates the script's writes, not the script, so reading
  -- the clock before writing is allowed.)
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- The latest TAT an exhausted key can have now; a stored TAT beyond it
-- means the clock stepped back or the quota shrank, and is treated (and
-- repaired) as an exhausted key.
local full = now + refill
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = now
if stored then
  tat = math.min(math.max(stored, now), full)
end
local new_tat = tat + t

local function store(value)
  if record then
    redis.call('SET', KEYS[1], string.format('%.0f', value),
      'PX', string.format('%.0f', value - now))
  end
end

if new_tat > full then
  local repaired = 0
  if stored and stored > full then
    store(tat)
    repaired = tat
  end
  return {0, 0, new_tat - full, tat - now, repaired}
end

store(new_tat)
-- floor((full - new_tat) / t), exact even where the division rounds up.
local left = full - new_tat
local remaining = math.floor(left / t)
if remaining * t > left then
  remaining = remaining - 1
end
return {1, remaining, 0, new_tat - now, new_tat}
