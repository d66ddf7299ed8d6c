-- wrk.lua - the read load of bench/run.sh.
--
--   BENCH_MODE=get  GET /v1/environments/<PREFIX><6 digits>, a name picked at
--                   random (uniformly) among BENCH_NAMES names, 0..BENCH_NAMES-1
--   BENCH_MODE=list GET BENCH_PATH (e.g. /v1/environments?limit=100)
--
-- At the end the summary goes as one JSON object to the file BENCH_OUT:
-- requests, duration_s, rps, ok_rps (requests less the answers that are not
-- 2xx/3xx and less socket errors: what the targets judge), errors (socket
-- errors, timeouts and answers that are not 2xx/3xx) and latency percentiles
-- in milliseconds.  wrk's latency histogram holds every answer; the targets
-- also require errors to stay under a small share of the requests, so fast
-- error answers cannot pass for speed.

local mode = os.getenv("BENCH_MODE") or "get"
local names = tonumber(os.getenv("BENCH_NAMES") or "10000")
local prefix = os.getenv("BENCH_PREFIX") or "f"
local list_path = os.getenv("BENCH_PATH") or "/v1/environments?limit=100"

local threads = 0
function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function init(args)
   math.randomseed(os.time() * 7919 + (tid or 0) * 104729)
end

function request()
   if mode == "list" then
      return wrk.format("GET", list_path)
   end
   return wrk.format("GET", string.format("/v1/environments/%s%06d", prefix, math.random(0, names - 1)))
end

function done(summary, latency, requests)
   local out = os.getenv("BENCH_OUT")
   local secs = summary.duration / 1e6
   local e = summary.errors
   local ms = function(p) return latency:percentile(p) / 1000 end
   local f = out and io.open(out, "w") or io.stdout
   f:write(string.format(
      '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"ok_rps":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}}\n',
      summary.requests, secs, summary.requests / secs,
      math.max(0, summary.requests - e.status - e.connect - e.read - e.write - e.timeout) / secs, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean / 1000, ms(50), ms(90), ms(99), latency.max / 1000))
   if out then f:close() end
end
