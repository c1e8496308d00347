-- The store's script (policy/store): one call per message, every key in
-- KEYS, all in one slot on a Cluster: the per-domain keys share the
-- {org} hash tag, and the installation's keys (6 to 10) are then the
-- share of that slot's group (store.h, mp_store_key_in_group).
--
-- The build compiles this file into the library as a string, without
-- its whole-line comments and blank lines: they can change without
-- changing the script's SHA1. A comment after code stays in the script.
--
-- Mode "m" (a message):
--  KEYS  1 message  2 domain  3 domain-day  4 domain-day-ips  5 recent
--        6 worst    7 day     8 volume-day  9 dmarc-fail-day  10 ip-day
--  ARGV  1 "m" 2 now 3 domain 4 org 5 ip 6 spf 7 dmarc 8 spf_aligned
--        9 dkim_aligned 10 disposition 11 published ("" unknown)
--        12 score ("" unknown) 13 grade 14 the message as JSON
--        15 ttl_message 16 ttl_domain 17 ttl_day 18 halflife
--        19 recent cap 20 the outcome field (see store.h)
--  The message JSON holds its DKIM signatures ("dkim": d, s, result,
--  aligned); the outcome's DKIM bit counts, per domain and day, the
--  messages whose DKIM pass aligned for DMARC. Returns 1 when counted, 0
--  when the message key existed (a replay).
--
-- Mode "p" (a posture score alone):
--  KEYS 1 domain 2 worst; ARGV 1 "p" 2 now 3 domain 4 org 5 score
--  6 grade 7 ttl_domain. Returns 1, or 0 when a newer score is there.
--
-- Cost: Redis spends most of a script's time crossing from Lua into
-- commands, so the common path makes nine calls: SET NX EX is at once
-- the replay guard, the message and its TTL; the daily hashes count one
-- "outcome" field per message (spf/dmarc/alignment/disposition, summed
-- by the reader) instead of one field per counter; TTLs of daily keys
-- are set when a key gets a new field rather than on every message.
--
-- Observed auth score: every message gives a sample x (100 DMARC pass,
-- 50 no DMARC policy but SPF pass, 0 otherwise; a temperror gives no
-- sample). The domain keeps S and W, both decayed with a half-life h:
-- on a sample at time t after the last one at t0, f = 2^-((t-t0)/h),
-- S = S*f + x, W = W*f + 1. The score is S/W: a mean where every
-- message counts (a burst of 1000 weighs 1000 times one message) and a
-- message h seconds older weighs half. A sample older than t0 (clock
-- skew between MX hosts) is itself decayed instead.

local mode, now = ARGV[1], tonumber(ARGV[2])
local domain, org = ARGV[3], ARGV[4]
if mode == 'p' then
  local at = tonumber(redis.call('HGET', KEYS[1], 'posture_at'))
  if at and at > now then return 0 end
  local ttl = tonumber(ARGV[7])
  redis.call('HSET', KEYS[1], 'domain', domain, 'org', org, 'posture_score', ARGV[5],
    'posture_grade', ARGV[6], 'posture_at', now)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], 100 - tonumber(ARGV[5]), domain)
  redis.call('EXPIRE', KEYS[2], ttl)
  return 1
end
if mode ~= 'm' then return redis.error_reply('bad mode') end
local ttl_msg, ttl_dom, ttl_day = tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])
if not redis.call('SET', KEYS[1], ARGV[14], 'NX', 'EX', ttl_msg) then return 0 end
local ip, spf, dmarc, dispo = ARGV[5], ARGV[6], ARGV[7], ARGV[10]
local spf_al, dkim_al = ARGV[8] == '1', ARGV[9] == '1'
local score, grade, outcome = ARGV[12], ARGV[13], ARGV[20]
local hl, cap = tonumber(ARGV[18]), tonumber(ARGV[19])

-- The all-time counters this message increments.
local inc = {'total'}
if spf == 'pass' then inc[#inc + 1] = 'spf_pass'
elseif spf == 'fail' or spf == 'softfail' then inc[#inc + 1] = 'spf_fail' end
if dmarc == 'pass' then inc[#inc + 1] = 'dmarc_pass'
elseif dmarc == 'fail' then inc[#inc + 1] = 'dmarc_fail'
elseif dmarc == 'none' then inc[#inc + 1] = 'dmarc_none'
else inc[#inc + 1] = 'dmarc_error' end
if spf_al then inc[#inc + 1] = 'spf_aligned' end
if dkim_al then inc[#inc + 1] = 'dkim_aligned' end
if spf_al or dkim_al then inc[#inc + 1] = 'aligned' end
if dispo == 'quarantine' then inc[#inc + 1] = 'dis_quarantine'
elseif dispo == 'reject' then inc[#inc + 1] = 'dis_reject' end

-- The domain hash: read once, written once.
local d = redis.call('HMGET', KEYS[2], 'first_seen', 'last_seen', 'auth_s',
  'auth_w', 'auth_t', unpack(inc))
local first, last = tonumber(d[1]) or now, tonumber(d[2]) or now
if now < first then first = now end
if now > last then last = now end
local f = {'domain', domain, 'org', org, 'first_seen', first, 'last_seen', last}
for i, name in ipairs(inc) do
  f[#f + 1] = name; f[#f + 1] = (tonumber(d[5 + i]) or 0) + 1
end
if ARGV[11] ~= '' then f[#f + 1] = 'published'; f[#f + 1] = ARGV[11] end
local x
if dmarc == 'pass' then x = 100
elseif dmarc == 'temperror' or (dmarc == 'none' and spf == 'temperror') then x = nil
elseif dmarc == 'none' and spf == 'pass' then x = 50
else x = 0 end
if x then
  local s, w, t0 = tonumber(d[3]) or 0, tonumber(d[4]) or 0, tonumber(d[5]) or now
  if now >= t0 then
    local k = 2 ^ ((t0 - now) / hl)
    s = s * k + x; w = w * k + 1; t0 = now
  else
    local k = 2 ^ ((now - t0) / hl)
    s = s + x * k; w = w + k
  end
  f[#f + 1] = 'auth_s'; f[#f + 1] = string.format('%.17g', s)
  f[#f + 1] = 'auth_w'; f[#f + 1] = string.format('%.17g', w)
  f[#f + 1] = 'auth_t'; f[#f + 1] = t0
  f[#f + 1] = 'auth_score'; f[#f + 1] = string.format('%.1f', s / w)
end
if score ~= '' then
  f[#f + 1] = 'posture_score'; f[#f + 1] = score
  f[#f + 1] = 'posture_grade'; f[#f + 1] = grade
  f[#f + 1] = 'posture_at'; f[#f + 1] = now
  redis.call('ZADD', KEYS[6], 100 - tonumber(score), domain)
  redis.call('EXPIRE', KEYS[6], ttl_dom)
end
redis.call('HSET', KEYS[2], unpack(f))

-- A new outcome field in the domain's day hash happens at least on the
-- day's first message: the moment to (re)set the per-domain TTLs.
local fresh = redis.call('HINCRBY', KEYS[3], outcome, 1) == 1
redis.call('ZINCRBY', KEYS[4], 1, ip)
local n = redis.call('LPUSH', KEYS[5], KEYS[1])
if n > cap then redis.call('LTRIM', KEYS[5], 0, cap - 1) end
if fresh or not d[2] or n == 1 then
  redis.call('EXPIRE', KEYS[2], ttl_dom)
  redis.call('EXPIRE', KEYS[3], ttl_day)
  redis.call('EXPIRE', KEYS[4], ttl_day)
  redis.call('EXPIRE', KEYS[5], ttl_msg)
end

-- Aggregate reports (policy/store_report.h): when the last ARGV is
-- "report MAX TTL", the message counts in its policy domain's rows of
-- the day. The last two KEYS are the rows and meta hashes (they carry
-- the {org} tag); ARGV ROW and "PID POLICY" come just before. A new row
-- past MAX distinct rows is not kept: the message is counted in the
-- meta's "overflow", and the report says how many it leaves out; its
-- policy text is not kept either, so that a sender who changes his
-- record cannot grow the meta hash past MAX. A message of a known row
-- costs one call; the keys' TTLs are set when they are created (each
-- key is one day's).
local rctl = ARGV[#ARGV]
if string.sub(rctl, 1, 7) == 'report ' then
  local rmax, rttl = string.match(rctl, '^report (%d+) (%d+)$')
  local rows, meta, rpol = KEYS[#KEYS - 1], KEYS[#KEYS], ARGV[#ARGV - 1]
  local pid = string.sub(rpol, 1, 8)
  local field = pid .. ' ' .. ARGV[#ARGV - 2]
  if redis.call('HINCRBY', rows, field, 1) == 1 then
    local nrows = redis.call('HLEN', rows)
    if nrows > tonumber(rmax) then
      redis.call('HDEL', rows, field)
      if redis.call('HINCRBY', meta, 'overflow', 1) == 1 then
        redis.log(redis.LOG_WARNING, 'mailposture: ' .. rows .. ' has ' .. rmax ..
          ' rows (max_rows): messages of new rows are counted as overflow')
      end
    else
      if nrows == 1 then redis.call('EXPIRE', rows, rttl) end
      if redis.call('HSETNX', meta, 'policy:' .. pid, string.sub(rpol, 10)) == 1 then
        redis.call('EXPIRE', meta, rttl)
      end
    end
  end
end

-- The keys of the whole installation (one per slot group on a Cluster).
redis.call('HINCRBY', KEYS[7], outcome, 1)
if redis.call('ZINCRBY', KEYS[8], 1, domain) == '1' then
  redis.call('EXPIRE', KEYS[7], ttl_day)
  redis.call('EXPIRE', KEYS[8], ttl_day)
end
if dmarc == 'fail' and redis.call('ZINCRBY', KEYS[9], 1, domain) == '1' then
  redis.call('EXPIRE', KEYS[9], ttl_day)
end
if redis.call('HINCRBY', KEYS[10], domain .. '|' .. spf .. '|' .. dmarc, 1) == 1 then
  redis.call('EXPIRE', KEYS[10], ttl_day)
end
return 1
