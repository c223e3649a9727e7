-- wrk-report.lua: wrk's -s script for loadtest/cmd/peerbench. After the run,
-- done() prints one JSON line that peerbench parses (latencies in
-- microseconds; errors.status counts responses with a status above 399).
--
-- With "http1.0" after the URL (wrk ... URL http1.0), the requests are
-- HTTP/1.0 with "Connection: keep-alive", as ab -k sends them: init() runs in
-- each thread before wrk builds its request with wrk.format, whose request
-- line it rewrites. No request() function, so the request stays static
-- (built once per thread, as without a script).
init = function(args)
  if args[1] == "http1.0" then
    local format = wrk.format
    wrk.headers["Connection"] = "keep-alive"
    wrk.format = function(...)
      local req, n = format(...):gsub("^(%S+ %S+) HTTP/1%.1\r\n", "%1 HTTP/1.0\r\n", 1)
      if n ~= 1 then
        error("wrk-report.lua: no HTTP/1.1 request line to rewrite in " .. req)
      end
      return req
    end
  elseif args[1] ~= nil then
    error("wrk-report.lua: unknown argument " .. args[1] .. " (want http1.0)")
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
