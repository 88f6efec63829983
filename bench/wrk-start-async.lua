-- wrk script: start BURST_N executions without waiting (POST WRK_BODY, expect 202), then stop.
-- Prints how many were accepted. Counters live in each thread's Lua state; `done` (in the main
-- state) sums them through `setup`.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["authorization"] = os.getenv("WRK_AUTH")
local threads = {}
function setup(thread)
  thread:set("limit", math.floor(tonumber(os.getenv("BURST_N")) / tonumber(os.getenv("WRK_THREADS") or "1")))
  table.insert(threads, thread)
end
sent, accepted, refused = 0, 0, 0
function request()
  sent = sent + 1
  if sent > limit then
    wrk.thread:stop()
  end
  return wrk.format()
end
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else refused = refused + 1 end
end
function done(summary, latency, requests)
  local a, r = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("refused")
  end
  io.stderr:write(string.format("ACCEPTED %d REFUSED %d\n", a, r))
end
