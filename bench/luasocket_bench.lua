-- luasocket_bench: the LuaSocket row of the benchmark: the same submit-then-poll
-- jobs, one at a time, with socket.http, ltn12 and a multipart body built by hand.

-- Usage: lua5.4 luasocket_bench.lua BASE_URL API_KEY JOBS 1
-- Prints "completed JOBS" when every job has succeeded; raises on any failure.
-- socket.http closes its connection after each request, so polls cannot reuse one.
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local BOUNDARY = "lua-dalle-bench-boundary"
local MAX_POLLS_PER_JOB = 100

local base_url, api_key, jobs = arg[1], arg[2], tonumber(arg[3])
if not (base_url and api_key and jobs) or arg[4] ~= "1" then
  io.stderr:write("usage: luasocket_bench.lua BASE_URL API_KEY JOBS 1 (one job at a time)\n")
  os.exit(2)
end

local function multipart_body(fields)
  local parts = {}
  for _, field in ipairs(fields) do
    parts[#parts + 1] = "--" .. BOUNDARY .. "\r\ncontent-disposition: form-data; name=\""
      .. field[1] .. "\"\r\n\r\n" .. field[2] .. "\r\n"
  end
  parts[#parts + 1] = "--" .. BOUNDARY .. "--\r\n"
  return table.concat(parts)
end

-- Sends one request and returns its decoded JSON reply; raises unless 200.
local function exchange(method, url, body)
  local chunks = {}
  local headers = { ["x-api-key"] = api_key, accept = "application/json" }
  if body then
    headers["content-type"] = "multipart/form-data; boundary=" .. BOUNDARY
    headers["content-length"] = tostring(#body)
  end
  local ok, status = http.request {
    method = method,
    url = url,
    headers = headers,
    source = body and ltn12.source.string(body),
    sink = ltn12.sink.table(chunks),
  }
  if not ok then error(method .. " " .. url .. ": " .. tostring(status), 0) end
  if status ~= 200 then error(method .. " " .. url .. ": HTTP " .. tostring(status), 0) end
  return cjson.decode(table.concat(chunks))
end

for n = 1, jobs do
  local submitted = exchange("POST", base_url .. "/sdk/models/dall-e", multipart_body {
    { "callback", base_url .. "/_mock/callback" },
    { "modelId", "70" },
    { "prompt", "bench job " .. n },
    { "model", "dall-e-2" },
    { "size", "1024x1024" },
  })
  local polls = 0
  repeat
    polls = polls + 1
    if polls > MAX_POLLS_PER_JOB then error("job " .. submitted.id .. " is still pending", 0) end
    local state = exchange("GET", base_url .. "/sdk/art/" .. submitted.id)
  until state.status == "succeeded"
end
print("completed " .. jobs)
