-- The client's own callback receiver (callback_listen) and deliver_callback,
-- against dalle-mock's real callbacks and plain HTTP clients (curl, bash).
local helper = require "helper"
local dalle = require "dalle"
local now = require("dalle.core").now

local sh_quote = helper.sh_quote
local TOKEN_PATTERN = "^[%w_-]+$"

-- A client of `mock` whose results come by callback; polls are slow enough
-- that a job finished quickly can only have been woken by its callback.
local function receiver_client(mock, extra)
  local config = {
    api_key = "test-key",
    base_url = mock.url,
    callback_listen = "127.0.0.1:0",
    poll_interval = 5,
    max_poll_interval = 5,
    callback_poll_interval = 10,
  }
  for k, v in pairs(extra or {}) do config[k] = v end
  return assert(dalle.new(config))
end

local function polls_of(mock, id)
  local n = 0
  for _, r in ipairs(mock:requests_to("poll")) do
    if r.path:sub(-#id) == id then n = n + 1 end
  end
  return n
end

-- The callback URL the mock was given for each submit, in order.
local function submitted_callbacks(mock)
  local urls = {}
  for _, r in ipairs(mock:requests_to("submit")) do urls[#urls + 1] = r.fields.callback end
  return urls
end

-- Starts a shell command now and returns a function that reads its output
-- once it ended; the client is stepped meanwhile by the caller. Reading
-- blocks without stepping the client, so every command is bounded in time
-- (curl -m): a receiver that never answers fails the spec, never hangs it.
local function background(cmd)
  return helper.start(cmd .. " 2>&1")
end

-- Steps `client` for `seconds` (its receiver answers only while driven).
local function drive_for(client, seconds)
  local stop = now() + seconds
  while now() < stop do client:step(0.05) end
end

local function curl_status(method, url, extra)
  return background("curl -s -m 5 -o /dev/null -w '%{http_code}' -X " .. method .. " "
    .. (extra or "") .. " " .. sh_quote(url))
end

describe("the callback receiver", function()
  local mock, client
  setup(function() mock = helper.start_mock { "--polls", "0", "--delay-ms", "300" } end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = receiver_client(mock)
  end)
  after_each(function() client:close() end)

  it("listens on a free loopback port that is its own public URL", function()
    local prefix, port = client:callback_url()
    assert.is_number(port)
    assert.is_true(port > 0)
    assert.equals("http://127.0.0.1:" .. port, prefix)
  end)

  it("finishes a blocking generate by its callback, with one confirming GET", function()
    local started = now()
    local result = assert(client:generate { prompt = "a lighthouse" })
    assert.is_true(now() - started < 3, "the job waited for a poll, not its callback")
    assert.equals(1, polls_of(mock, result.id))
    local sent = submitted_callbacks(mock)[1]
    local prefix = client:callback_url()
    assert.equals(prefix .. "/", sent:sub(1, #prefix + 1))
    local token = sent:sub(#prefix + 2)
    assert.equals(32, #token)
    assert.matches(TOKEN_PATTERN, token)
  end)

  it("keeps a callback that arrives before its submit reply is read", function()
    -- The reply waits 800 ms; the job is done, and its callback sent, at 300.
    mock:fault { on = "submit", delay_ms = 800 }
    local started = now()
    local result = assert(client:generate { prompt = "early bird" })
    assert.is_true(now() - started < 2, "the early callback was lost")
    assert.equals(1, polls_of(mock, result.id))
  end)

  it("gives every job its own token and keeps it out of params", function()
    local a = assert(client:submit { prompt = "one" })
    local b = assert(client:submit { prompt = "two" })
    local urls = submitted_callbacks(mock)
    assert.are_not.equal(urls[1], urls[2])
    assert.equals(client:callback_url(), a.params.callback)
    assert.equals(client:callback_url(), b.params.callback)
    local outcomes = assert(client:wait_all({ a, b }, { timeout = 5 }))
    assert.is_truthy(outcomes[1][1])
    assert.is_truthy(outcomes[2][1])
  end)

  it("wakes coroutines driven by step", function()
    local cos = {}
    for i = 1, 5 do
      cos[i] = coroutine.create(function() return client:generate { prompt = "co " .. i } end)
    end
    local started = now()
    local results = helper.drive(client, cos)
    assert.is_true(now() - started < 3)
    for i = 1, 5 do
      assert.is_truthy(results[i][1], tostring(results[i][2]))
      assert.equals(1, polls_of(mock, results[i][1].id))
    end
  end)

  it("takes a finished body as it is with callback_confirm = false (no GET)", function()
    client:close()
    client = receiver_client(mock, { callback_confirm = false })
    local result = assert(client:generate { prompt = "no confirmation" })
    assert.equals(0, polls_of(mock, result.id))
    assert.matches("^http://", result.url)
  end)

  it("never puts a token in a log record or an error", function()
    client:close()
    local records = {}
    client = receiver_client(mock, { log = function(r) records[#records + 1] = r end })
    local started = now()
    local result = assert(client:generate { prompt = "logged" })
    local token = submitted_callbacks(mock)[1]:match("([^/]+)$")
    local callback_logged = false
    for _, record in ipairs(records) do
      assert.is_nil(record.message:find(token, 1, true))
      if record.event == "callback" then
        callback_logged = true
        assert.equals(result.id, record.job)
        assert.matches("callback for job", record.message, 1, true)
        assert.is_true(record.received_at > started and record.received_at <= now())
      end
    end
    assert.is_true(callback_logged)
    assert.is_nil(tostring(client):find(token, 1, true))
    local _, err = client:deliver_callback("/x/" .. token, "{}")
    assert.is_nil(tostring(err):find(token, 1, true))
  end)

  it("refuses what is not a POST to a live token, answering at once", function()
    local prefix = client:callback_url()
    local job = assert(client:submit { prompt = "refusals", timeout = 5 })
    local live = submitted_callbacks(mock)[1]
    local get = curl_status("GET", live)
    local unknown = curl_status("POST", prefix .. "/" .. string.rep("A", 32), "-d '{}'")
    local junk = curl_status("POST", prefix .. "/not-a-token", "-d '{}'")
    local allow = background("curl -s -m 5 -i -X PUT " .. sh_quote(live) .. " | tr -d '\\r' | grep -i '^allow:'")
    drive_for(client, 0.5)
    assert.equals("405", get())
    assert.equals("404", unknown())
    assert.equals("404", junk())
    assert.matches("^[Aa]llow: POST", allow())
    assert(job:wait { timeout = 5 })
    -- The job ended: so did its token.
    local late = curl_status("POST", live, "-d '{}'")
    drive_for(client, 0.3)
    assert.equals("404", late())
  end)

  it("answers 413 to a body over the cap, and the job still finishes", function()
    client:close()
    client = receiver_client(mock, { max_body = 1024, max_image_bytes = 1024 })
    local job = assert(client:submit { prompt = "too large" })
    local live = submitted_callbacks(mock)[1]
    local big = curl_status("POST", live, "-d x -H 'Content-Length: 99999999'")
    local chunked = background("head -c 20000 /dev/zero | curl -s -m 5 -o /dev/null -w '%{http_code}' "
      .. "-H 'Transfer-Encoding: chunked' --data-binary @- " .. sh_quote(live))
    drive_for(client, 0.5)
    assert.equals("413", big())
    assert.equals("413", chunked())
    assert(job:wait { timeout = 5 })
  end)

  it("drops a connection that stalls or trickles, without delaying a job", function()
    client:close()
    client = receiver_client(mock, { callback_timeout = 1 })
    local port = select(2, client:callback_url())
    local started = now()
    -- bash's /dev/tcp: one sends nothing, one a byte every 0.3 s; each
    -- reports how long until the receiver closed the connection.
    local stall = background("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port
      .. "; s=$(date +%s%N); timeout 8 cat <&3 >/dev/null; echo $(( ($(date +%s%N) - s) / 1000000 ))'")
    local trickle = background("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port
      .. "; s=$(date +%s%N); (for c in P O S T \" \" / a b c d e f g h i j k l m n o p q r s t; do "
      .. "printf %s \"$c\" >&3 2>/dev/null || exit; sleep 0.3; done) & timeout 8 cat <&3 >/dev/null; "
      .. "echo $(( ($(date +%s%N) - s) / 1000000 ))'")
    local result = assert(client:generate { prompt = "meanwhile" })
    assert.is_true(now() - started < 3)
    assert.equals(1, polls_of(mock, result.id))
    drive_for(client, 1.8 - (now() - started))
    assert.is_true(tonumber(stall()) < 2500, "the stalled connection was kept")
    assert.is_true(tonumber(trickle()) < 2500, "the trickling connection was kept")
  end)

  it("holds at most callback_max_connections at once; more wait their turn", function()
    client:close()
    client = receiver_client(mock, { callback_max_connections = 2, callback_timeout = 1 })
    local prefix, port = client:callback_url()
    local hold = "bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "; sleep 3'"
    local first, second = background(hold), background(hold)
    drive_for(client, 0.3)
    local started = now()
    -- Waits in the backlog until the receiver drops a silent connection.
    local third = background("s=$(date +%s%N); curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "
      .. "-d '{}' " .. sh_quote(prefix .. "/" .. string.rep("B", 32))
      .. "; echo \" $(( ($(date +%s%N) - s) / 1000000 ))\"")
    drive_for(client, 2)
    local code, waited = third():match("^(%d+) (%d+)")
    first()
    second()
    assert.equals("404", code)
    assert.is_true(tonumber(waited) >= 400, "answered after " .. waited .. " ms: no limit")
    assert.is_true(now() - started < 3)
  end)

  it("serves more than 128 connections at once", function()
    local job = assert(client:submit { prompt = "in the crowd" })
    local prefix = client:callback_url()
    local config = os.tmpname()
    local f = assert(io.open(config, "w"))
    for i = 1, 300 do
      f:write("url = \"", prefix, "/", string.format("%032d", i), "\"\n", "output = /dev/null\n")
    end
    f:close()
    local crowd = background("curl -s -m 10 --parallel --parallel-immediate --parallel-max 300 "
      .. "-X POST -d '{}' -w 'code=%{http_code}\\n' -K " .. sh_quote(config))
    local started = now()
    assert(job:wait { timeout = 10 })
    drive_for(client, 0.8)
    local codes = crowd()
    os.remove(config)
    local n = 0
    for code in codes:gmatch("code=(%d+)") do
      assert.equals("404", code)
      n = n + 1
    end
    assert.equals(300, n)
    assert.is_true(now() - started < 5)
  end)
end)

describe("the callback settings", function()
  local mock
  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)

  local function refused(config, field, pattern)
    config.api_key = "test-key"
    config.base_url = mock.url
    local client, err = dalle.new(config)
    assert.is_nil(client)
    assert.equals("invalid", err.kind)
    assert.equals(field, err.field)
    if pattern then assert.matches(pattern, err.message) end
  end

  it("refuses a listen address that is not HOST:PORT", function()
    refused({ callback_listen = "8787" }, "callback_listen", "HOST:PORT")
    refused({ callback_listen = "127.0.0.1:70000" }, "callback_listen", "65535")
  end)

  it("needs a public URL for a listener that is not on loopback", function()
    refused({ callback_listen = "0.0.0.0:0" }, "callback_public_url", "reaches it")
  end)

  it("refuses a public URL with a query, or not http(s)", function()
    refused({ callback_public_url = "https://me.example/cb?x=1" }, "callback_public_url")
    refused({ callback_public_url = "ftp://me.example/cb" }, "callback_public_url")
  end)

  it("refuses config callback beside a receiver", function()
    refused({ callback = "http://127.0.0.1:1/x", callback_listen = "127.0.0.1:0" }, "callback")
  end)

  it("wants the TLS certificate and key together, with a listener", function()
    refused({ callback_listen = "127.0.0.1:0", callback_tls_cert = "/x.pem" }, "callback_tls_key")
    refused({ callback_public_url = "https://me.example/cb", callback_tls_cert = "/x.pem",
      callback_tls_key = "/y.pem" }, "callback_tls_cert")
  end)

  it("says why it cannot listen on a port in use", function()
    local first = assert(dalle.new { api_key = "k", base_url = mock.url,
      callback_listen = "127.0.0.1:0" })
    local port = select(2, first:callback_url())
    refused({ callback_listen = "127.0.0.1:" .. port }, "callback_listen", "in use")
    first:close()
  end)

  it("raises on deliver_callback arguments of the wrong type", function()
    local client = assert(dalle.new { api_key = "k", base_url = mock.url,
      callback_public_url = "https://me.example/cb" })
    assert.has_error(function() client:deliver_callback(1, "{}") end)
    assert.has_error(function() client:deliver_callback("/cb/x", nil) end)
    client:close()
  end)
end)

describe("deliver_callback (an app's own server)", function()
  local mock, client, nowhere
  setup(function()
    mock = helper.start_mock { "--polls", "0", "--delay-ms", "200" }
    nowhere = "http://127.0.0.1:" .. helper.closed_port() .. "/app/dalle/"
  end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    -- The service's POSTs go nowhere: the app hands them in itself.
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url,
      callback_public_url = nowhere,
      poll_interval = 5, max_poll_interval = 5, callback_poll_interval = 10 })
  end)
  after_each(function() client:close() end)

  -- The body the service would POST: the mock's own finished poll reply.
  local function finished_body(id)
    return helper.capture("curl -s -H 'x-api-key: test-key' " .. sh_quote(mock.url .. "/sdk/art/" .. id))
  end

  it("finishes the job a path names, and refuses it once the job ended", function()
    local job = assert(client:submit { prompt = "routed" })
    local url = submitted_callbacks(mock)[1]
    assert.equals("http://127.0.0.1:", url:sub(1, 17))
    local path = url:match("^https?://[^/]+(/.*)$")
    assert.matches("^/app/dalle/[%w_-]+$", path)
    helper.sleep(0.3)
    local body = finished_body(job.id)
    assert.is_true(client:deliver_callback(path .. "?from=nginx", body))
    local started = now()
    assert(job:wait { timeout = 5 })
    assert.is_true(now() - started < 1)
    local again, err = client:deliver_callback(path, body)
    assert.is_nil(again)
    assert.equals("invalid", err.kind)
    assert.equals("path", err.field)
  end)

  it("takes a bare token too, and confirms a body of another job by a GET", function()
    client:close()
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url,
      callback_public_url = nowhere, callback_confirm = false,
      poll_interval = 5, max_poll_interval = 5, callback_poll_interval = 10 })
    local a = assert(client:submit { prompt = "a" })
    local b = assert(client:submit { prompt = "b" })
    local urls = submitted_callbacks(mock)
    helper.sleep(0.3)
    -- b's finished body sent to a's token: a is not finished by it, but
    -- polls at once and finds its own result.
    assert.is_true(client:deliver_callback(urls[1]:match("([^/]+)$"), finished_body(b.id)))
    local result = assert(a:wait { timeout = 5 })
    assert.equals(a.id, result.id)
    assert.equals(1, polls_of(mock, a.id))
    assert.is_true(client:deliver_callback(urls[2], "not json at all"))
    assert.equals(b.id, assert(b:wait { timeout = 5 }).id)
    assert.equals(2, polls_of(mock, b.id)) -- the test's own GET, then the confirmation
  end)

  it("refuses a body over the cap", function()
    client:close()
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url,
      callback_public_url = nowhere, max_body = 100, max_image_bytes = 3 })
    assert(client:submit { prompt = "big" })
    local _, err = client:deliver_callback(submitted_callbacks(mock)[1], string.rep("x", 200))
    assert.equals("invalid", err.kind)
    assert.equals("body", err.field)
  end)

  it("falls back to polling when no callback comes", function()
    client:close()
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url,
      callback_public_url = nowhere, poll_interval = 0.1,
      callback_poll_interval = 0.5 })
    local started = now()
    local job = assert(client:submit { prompt = "lost callback" })
    assert(job:wait { timeout = 5 })
    local took = now() - started
    assert.is_true(took >= 0.45 and took < 2, "took " .. took)
    assert.equals(1, polls_of(mock, job.id))
  end)
end)

describe("the callback receiver over TLS", function()
  local mock, dir
  setup(function()
    mock = helper.start_mock { "--polls", "0", "--delay-ms", "200" }
    dir = helper.tmpdir()
    assert(helper.run_ok("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      .. "-nodes -days 1 -subj /CN=127.0.0.1 -keyout " .. sh_quote(dir .. "/key.pem")
      .. " -out " .. sh_quote(dir .. "/cert.pem") .. " >/dev/null 2>&1"))
  end)
  teardown(function()
    mock:stop()
    helper.rmdir(dir)
  end)

  it("speaks HTTPS with a throwaway certificate", function()
    local client = receiver_client(mock, { callback_tls_cert = dir .. "/cert.pem",
      callback_tls_key = dir .. "/key.pem", callback_confirm = false })
    local prefix = client:callback_url()
    assert.matches("^https://127%.0%.0%.1:%d+$", prefix)
    local job = assert(client:submit { prompt = "secure" })
    local url = submitted_callbacks(mock)[1]
    helper.sleep(0.3)
    local body = helper.capture("curl -s -H 'x-api-key: test-key' "
      .. sh_quote(mock.url .. "/sdk/art/" .. job.id))
    local post = background("curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "
      .. sh_quote(dir .. "/cert.pem") .. " -H 'Content-Type: application/json' --data-binary "
      .. sh_quote(body) .. " " .. sh_quote(url))
    assert(job:wait { timeout = 5 })
    assert.equals("200", post())
    client:close()
  end)

  it("refuses a missing certificate file", function()
    local client, err = dalle.new { api_key = "k", base_url = mock.url,
      callback_listen = "127.0.0.1:0", callback_tls_cert = dir .. "/none.pem",
      callback_tls_key = dir .. "/key.pem" }
    assert.is_nil(client)
    assert.equals("callback_listen", err.field)
    assert.matches("certificate", err.message)
  end)
end)
