-- wrk script shared by every case of `make bench`.
--
-- Arguments (after `--` on the wrk command line), all key=value:
--   method=GET            HTTP method
--   path=/groups/g        request path; "{id}" is replaced by a generated id
--   auth=Bearer xyz       Authorization header value (optional)
--   body=...              request body; "{id}" is replaced too (optional)
--   ctype=application/json  Content-Type of the body (optional)
--   ids=prefix:start:count  generate ids prefix..%07d(start + i), i < count;
--   idfile=/path            or take the ids from a file, one per line.
--                           When the ids run out the thread stops (the run
--                           ends early; its rate is still requests / elapsed).
--
-- Every response status is counted, so a run that got anything but 2xx says
-- so. done() prints one line "@@bench <json>" that bench/run.py parses.
-- Run with one wrk thread: the ids are a single sequence.

local method, path, auth, body, ctype = "GET", "/", nil, nil, nil
local id_prefix, id_next, id_end = nil, 0, 0
local id_list = nil
statuses = {}
sent = 0 -- generated ids handed out (requests sent, answered or not)

function init(args)
  for _, arg in ipairs(args) do
    local k, v = arg:match("^([%w_]+)=(.*)$")
    if k == "method" then method = v
    elseif k == "path" then path = v
    elseif k == "auth" then auth = v
    elseif k == "body" then body = v
    elseif k == "ctype" then ctype = v
    elseif k == "ids" then
      local p, s, c = v:match("^(.*):(%d+):(%d+)$")
      id_prefix, id_next, id_end = p, tonumber(s), tonumber(s) + tonumber(c)
    elseif k == "idfile" then
      id_list = {}
      for line in io.lines(v) do table.insert(id_list, line) end
      id_next, id_end = 1, #id_list + 1
    else error("bench.lua: unknown argument " .. arg) end
  end
  wrk.headers["Connection"] = "keep-alive"
  if auth then wrk.headers["Authorization"] = auth end
  if ctype then wrk.headers["Content-Type"] = ctype end
  if not id_prefix and not id_list then
    -- Constant request: build it once.
    fixed = wrk.format(method, path, nil, body)
  end
end

function request()
  if fixed then return fixed end
  if id_next >= id_end then
    wrk.thread:stop()
    id_next = id_end - 1 -- keep returning a well-formed request until the loop stops
  end
  local id
  if id_list then id = id_list[id_next] else id = string.format("%s%07d", id_prefix, id_next) end
  id_next = id_next + 1
  sent = sent + 1
  local b = body and body:gsub("{id}", id) or nil
  return wrk.format(method, (path:gsub("{id}", id)), nil, b)
end

function response(status, headers, resp_body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function json_object(t)
  local parts = {}
  for k, v in pairs(t) do
    table.insert(parts, string.format('"%s": %s', k, tostring(v)))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local merged, total_sent = {}, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + (thread:get("sent") or 0)
    for k, v in pairs(thread:get("statuses") or {}) do
      merged[k] = (merged[k] or 0) + v
    end
  end
  local out = {
    duration_us = summary.duration,
    requests = summary.requests,
    bytes = summary.bytes,
    sent = total_sent,
    errors = json_object(summary.errors),
    statuses = json_object(merged),
    latency_us = json_object({
      mean = latency.mean, stdev = latency.stdev, max = latency.max,
      p50 = latency:percentile(50), p90 = latency:percentile(90),
      p99 = latency:percentile(99), p999 = latency:percentile(99.9),
    }),
  }
  io.write("@@bench ", json_object(out), "\n")
end
