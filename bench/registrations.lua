-- wrk script of bench.registrations: POST pre-generated registrations, count statuses.
-- wrk -s registrations.lua URL -- REQUEST_FILE THREADS
-- Each line of REQUEST_FILE: path TAB Idempotency-Key TAB JSON body. Thread t of THREADS
-- sends lines t, t + THREADS, ...; when its lines run out it starts again and counts a wrap
-- (then requests repeat, which the caller reports). done() prints one line for the caller:
-- BENCH_RESULT {json}, and the first non-201 answer as BENCH_FIRST_ERROR.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   queue, next_request, wraps, statuses, first_error = {}, 1, 0, {}, ""
   local line_number = 0
   for line in io.lines(path) do
      if line_number % nthreads == id then
         local target, key, address, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         queue[#queue + 1] = wrk.format("POST", target,
            {["Content-Type"] = "application/json", ["Idempotency-Key"] = key, ["X-Forwarded-For"] = address},
            body)
      end
      line_number = line_number + 1
   end
   if #queue == 0 then error("no requests for thread " .. id .. " in " .. path) end
end

function request()
   local r = queue[next_request]
   next_request = next_request + 1
   if next_request > #queue then
      next_request, wraps = 1, wraps + 1
   end
   return r
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status ~= 201 and first_error == "" then
      first_error = status .. " " .. string.sub(body or "", 1, 400)
   end
end

function done(summary, latency, requests)
   local counts, total_wraps, error_text = {}, 0, ""
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
      total_wraps = total_wraps + thread:get("wraps")
      if error_text == "" then error_text = thread:get("first_error") end
   end
   local parts = {}
   for status, n in pairs(counts) do
      parts[#parts + 1] = string.format('"%d":%d', status, n)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"wraps":%d,"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, total_wraps,
      table.concat(parts, ",")))
   if error_text ~= "" then
      io.write("BENCH_FIRST_ERROR " .. string.gsub(error_text, "\n", " ") .. "\n")
   end
end
