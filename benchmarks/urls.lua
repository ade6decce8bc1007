-- wrk script: send requests round-robin from a list of "METHOD PATH" lines (args[1]; further
-- args are request headers "Name: value"), each
-- thread starting at a different offset; print one JSON line of figures when done.
local reqs = {}
local i = 0

function init(args)
  local headers = {}
  for k = 2, #args do  -- extra request headers, "Name: value"
    local name, value = args[k]:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  for line in io.lines(args[1]) do
    local method, path = line:match("^(%S+) (.+)$")
    if method then
      reqs[#reqs + 1] = wrk.format(method, path, headers)
    end
  end
  i = math.random(#reqs)
end

function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
