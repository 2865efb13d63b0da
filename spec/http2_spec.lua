-- HTTP/2, where the service offers it: concurrent polls share one
-- multiplexed connection, and a submit still never rides on a connection
-- already in use. The server is nghttpx (Debian's nghttp2-proxy) on
-- loopback, speaking h2 over TLS in front of dalle-mock; its access log says
-- which client connection (source port) carried each request.
local helper = require "helper"
local dalle = require "dalle"

local JOBS = 32
local START_TRIES = 3

-- One access-log line per API request, as --accesslog-format below writes
-- it (setup's readiness probes ask for "/").
local function read_log(path)
  local requests = {}
  for line in (helper.read_file(path) or ""):gmatch("[^\n]+") do
    local port, alpn, method, path_ = line:match("^(%d+) (%S+) (%S+) (%S+)")
    if port and path_:find("^/sdk/") then
      requests[#requests + 1] = { port = port, alpn = alpn, method = method, path = path_ }
    end
  end
  return requests
end

local function distinct_ports(requests, method)
  local seen, n = {}, 0
  for _, r in ipairs(requests) do
    if r.method == method and not seen[r.port] then
      seen[r.port] = true
      n = n + 1
    end
  end
  return n
end

describe("HTTP/2", function()
  local mock, dir, proxy_pid, base, access_log

  setup(function()
    mock = helper.start_mock()
    dir = helper.tmpdir()
    assert(helper.run_ok("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
      .. " -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " .. dir
      .. "/key.pem -out " .. dir .. "/cert.pem >/dev/null 2>&1"))
    access_log = dir .. "/access.log"
    -- nghttpx cannot pick its own port; a port just given up is free unless
    -- something took it meanwhile, and then nghttpx exits at once.
    for _ = 1, START_TRIES do
      local port = helper.closed_port()
      proxy_pid = helper.capture("nghttpx --conf=/dev/null --no-ocsp --workers=1"
        .. " -f '127.0.0.1," .. port .. "' -b '127.0.0.1," .. mock.port .. "'"
        .. " --errorlog-file=" .. dir .. "/error.log --accesslog-file=" .. access_log
        .. " --accesslog-format='$remote_port $alpn $method $path $status' "
        .. dir .. "/key.pem " .. dir .. "/cert.pem >/dev/null 2>&1 & echo $!"):match("%d+")
      base = "https://127.0.0.1:" .. port
      for _ = 1, 100 do
        if helper.run_ok("curl -s -o /dev/null --cacert " .. dir .. "/cert.pem " .. base .. "/")
            or not helper.run_ok("kill -0 " .. proxy_pid .. " 2>/dev/null") then
          break
        end
        helper.sleep(0.05)
      end
      if helper.run_ok("kill -0 " .. proxy_pid .. " 2>/dev/null") then break end
    end
    assert(helper.run_ok("curl -s -o /dev/null --cacert " .. dir .. "/cert.pem " .. base .. "/"),
      "nghttpx did not start: " .. tostring(helper.read_file(dir .. "/error.log")))
  end)

  teardown(function()
    -- SIGQUIT is nghttpx's graceful stop: its worker process ends with it.
    helper.run_ok("kill -QUIT " .. proxy_pid .. " 2>/dev/null")
    mock:stop()
    helper.rmdir(dir)
  end)

  local function new_client()
    return assert(dalle.new {
      api_key = "test-key",
      base_url = base,
      ca_file = dir .. "/cert.pem",
      callback = mock.url .. "/_mock/callback",
      poll_interval = 0.05,
      max_poll_interval = 0.05,
    })
  end

  it("opens one connection per submit, even where it could multiplex", function()
    local client = new_client()
    for i = 1, JOBS do assert(client:submit { prompt = "an h2 cat " .. i }) end
    client:close()
    local requests = read_log(access_log)
    for _, r in ipairs(requests) do assert.equals("h2", r.alpn) end
    assert.equals(JOBS, #requests)
    assert.equals(JOBS, distinct_ports(requests, "POST"))
  end)

  it("multiplexes polls that start together over one connection", function()
    local submitter = new_client()
    local ids = {}
    for i = 1, JOBS do ids[i] = assert(submitter:submit { prompt = "an h2 dog " .. i }).id end
    submitter:close()
    -- A new client has no connection yet: its first polls all start at once.
    local client = new_client()
    local jobs = {}
    for i = 1, JOBS do jobs[i] = client:job(ids[i]) end
    local outcomes = client:wait_all(jobs, { timeout = 30 })
    client:close()
    for i = 1, JOBS do assert.equals("succeeded", outcomes[i][1] and outcomes[i][1].status) end
    local polls = {}
    for _, r in ipairs(read_log(access_log)) do
      if r.method == "GET" then
        assert.equals("h2", r.alpn)
        polls[#polls + 1] = r
      end
    end
    assert.is_true(#polls >= JOBS)
    assert.equals(1, distinct_ports(polls, "GET"))
  end)
end)
