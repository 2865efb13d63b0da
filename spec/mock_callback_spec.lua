-- dalle-mock's callback sender against a real receiver on loopback
-- (spec/fixtures/callback_receiver.py): what it POSTs and what it records,
-- its callback faults and their settings, the GETs it counts per job, and
-- 1,000 callbacks due at once.
local helper = require "helper"
local cjson = require "cjson"

local INSTRUMENTED = os.getenv("DALLE_INSTRUMENTED")
-- Above 256, so the burst fills every connection the sender has and queues more.
local BURST = INSTRUMENTED and 300 or 1000
-- More than 128 connections at once (note 2 of the libmicrohttpd notes).
local BURST_CONNECTIONS_LEAST = 129
local RECEIVER = "spec/fixtures/callback_receiver.py"
local WAIT_SECONDS = 15
local WAIT_STEP_SECONDS = 0.02
local START_SECONDS = 10
local LATE_MS = 300
local SHORT_TIMEOUT_MS = 200
-- A mock stopping with POSTs in flight must be gone within this.
local STOP_SECONDS = 1
local MIX_JOBS = 20
local FEW_CONNECTIONS = 4
local FEW_CONNECTIONS_JOBS = 40

local sh_quote = helper.sh_quote

-- A request with curl: returns the status and the body.
local function curl(args, url)
  local out = helper.capture("curl -s -w '\\n%{http_code}' " .. args .. " " .. sh_quote(url))
  local body, status = out:match("^(.*)\n(%d+)$")
  return tonumber(status), body
end

-- Calls `probe` until it returns a true value, which it returns; fails
-- naming `what` after WAIT_SECONDS.
local function eventually(what, probe)
  for _ = 1, WAIT_SECONDS / WAIT_STEP_SECONDS do
    local value = probe()
    if value then return value end
    helper.sleep(WAIT_STEP_SECONDS)
  end
  error("timed out waiting for " .. what)
end

-- A process ended: gone, or a zombie its reaper has not yet collected (which
-- kill -0 would still find, for a second or more on some machines).
local function ended(pid)
  local stat = helper.read_file("/proc/" .. pid .. "/stat")
  return not stat or stat:match("^%d+ %(.-%) (%a)") == "Z"
end

-- Stops a mock of helper.start_mock; returns whether it ended within `seconds`.
local function stop_mock(mock, seconds)
  helper.run_ok("kill " .. mock.pid .. " 2>/dev/null")
  local gone = false
  for _ = 1, (seconds or START_SECONDS) / WAIT_STEP_SECONDS do
    gone = ended(mock.pid)
    if gone then break end
    helper.sleep(WAIT_STEP_SECONDS)
  end
  os.remove(mock.log_file)
  return gone
end

-- A loopback port nothing listens on: one a mock just gave up.
local function closed_port()
  local mock = helper.start_mock()
  stop_mock(mock)
  return mock.port
end

local Receiver = {}
Receiver.__index = Receiver

local function start_receiver(cert, key)
  local base = os.tmpname()
  os.remove(base)
  local port_file, log_file = base .. ".port", base .. ".log"
  local tls = cert and (" " .. sh_quote(cert) .. " " .. sh_quote(key)) or ""
  local pid = helper.capture("python3 " .. RECEIVER .. " " .. sh_quote(port_file) .. " $PPID" .. tls
    .. " >/dev/null 2>" .. sh_quote(log_file) .. " & echo $!"):match("%d+")
  local port
  for _ = 1, START_SECONDS / WAIT_STEP_SECONDS do
    port = tonumber(helper.read_file(port_file) or "")
    if port then break end
    helper.sleep(WAIT_STEP_SECONDS)
  end
  assert(port, "the callback receiver did not start: " .. (helper.read_file(log_file) or ""))
  os.remove(port_file)
  local scheme = cert and "https" or "http"
  return setmetatable({ pid = pid, log_file = log_file, cacert = cert,
    url = scheme .. "://127.0.0.1:" .. port }, Receiver)
end

function Receiver:get(path)
  local tls = self.cacert and ("--cacert " .. sh_quote(self.cacert) .. " ") or ""
  local status, body = curl(tls, self.url .. path)
  assert.equals(200, status)
  return cjson.decode(body)
end

function Receiver:received() return self:get("/received") end
function Receiver:count() return self:get("/count") end

function Receiver:reset()
  local tls = self.cacert and ("--cacert " .. sh_quote(self.cacert) .. " ") or ""
  assert.equals(200, (curl(tls .. "-X POST", self.url .. "/reset")))
end

function Receiver:stop()
  helper.run_ok("kill " .. self.pid .. " 2>/dev/null")
  os.remove(self.log_file)
end

-- Submits a job (urlencoded, as curl -d sends it); returns its id.
local function submit(mock, prompt, callback)
  local status, body = curl("-H 'x-api-key: test-key' --data-urlencode modelId=70"
    .. " --data-urlencode " .. sh_quote("prompt=" .. prompt)
    .. " --data-urlencode " .. sh_quote("callback=" .. callback), mock.url .. "/sdk/models/dall-e")
  assert.equals(200, status)
  -- Read from the text: a numeric id decoded may print as 1001.0.
  return assert(body:match('"id":"?(%w+)'), body)
end

-- Submits `n` jobs at once, 32 at a time (curl --parallel), all with the
-- same prompt and callback URL; returns /_mock/jobs once it has them all.
local function submit_many(mock, n, callback)
  local urls = os.tmpname()
  local f = assert(io.open(urls, "w"))
  for _ = 1, n do f:write('url = "', mock.url, '/sdk/models/dall-e"\n') end
  f:close()
  local ok = helper.run_ok("curl -s --no-progress-meter --parallel --parallel-max 32"
    .. " -H 'x-api-key: test-key' -d " .. sh_quote("modelId=70&prompt=many&callback="
    .. helper.url_escape(callback)) .. " -K " .. sh_quote(urls) .. " >/dev/null")
  os.remove(urls)
  assert.is_true(ok)
  return eventually(n .. " jobs", function()
    local jobs = mock:jobs()
    return #jobs == n and jobs
  end)
end

-- A GET of the job's /sdk/art/{id}: the status and the raw body.
local function poll(mock, id, extra)
  return curl("-H 'x-api-key: test-key' " .. (extra or ""), mock.url .. "/sdk/art/" .. id)
end

-- /_mock/jobs, with each callback's end time checked (a time of the
-- client's clock, already passed) and taken out, so outcomes compare whole.
local function timed_jobs(mock)
  local jobs = mock:jobs()
  local now = require("dalle.core").now()
  for _, job in ipairs(jobs) do
    for _, outcome in ipairs(job.callbacks) do
      assert.is_number(outcome.at)
      assert.is_true(outcome.at > 0 and outcome.at <= now, "a callback ended at " .. outcome.at)
      outcome.at = nil
    end
  end
  return jobs
end

local function job_of(mock, id)
  for _, job in ipairs(timed_jobs(mock)) do
    if job.id == id then return job end
  end
  error("no job " .. id .. " in /_mock/jobs")
end

-- The job once it has no callback POST left to make or end.
local function settled(mock, id)
  return eventually("job " .. id .. "'s callbacks to end", function()
    local job = job_of(mock, id)
    return job.state ~= "pending" and job.callbacks_pending == 0 and job
  end)
end

-- Every job, once none has a callback POST left to make or end.
local function all_settled(mock)
  return eventually("every callback to end", function()
    local jobs = timed_jobs(mock)
    for _, job in ipairs(jobs) do
      if job.state == "pending" or job.callbacks_pending > 0 then return nil end
    end
    return jobs
  end)
end

local function received_at(receiver, path, n)
  return eventually(n .. " callbacks at " .. path, function()
    local got = {}
    for _, r in ipairs(receiver:received()) do
      if r.path == path then got[#got + 1] = r end
    end
    return #got >= n and got
  end)
end

local function config_error(mock, query)
  local q = {}
  for k, v in pairs(query) do q[#q + 1] = k .. "=" .. helper.url_escape(v) end
  local status, body = curl("-X POST", mock.url .. "/_mock/config?" .. table.concat(q, "&"))
  return status, cjson.decode(body)
end

-- The mock's exit code and stderr for a command line that must not start it.
local function refused_start(args)
  local out = helper.capture(sh_quote(helper.MOCK) .. " " .. args .. " 2>&1; echo \"exit=$?\"")
  return tonumber(out:match("exit=(%d+)%s*$")), out
end

describe("dalle-mock callbacks", function()
  local mock, receiver

  setup(function()
    receiver = start_receiver()
    mock = helper.start_mock { "--polls", "0" }
  end)
  teardown(function()
    stop_mock(mock)
    receiver:stop()
  end)
  before_each(function()
    mock:reset()
    receiver:reset()
  end)

  for _, shape in ipairs { "plain", "numeric", "b64" } do
    it("POSTs the '" .. shape .. "' done poll reply as application/json, and records the 200", function()
      mock:config { shape = shape }
      local id = submit(mock, "a " .. shape .. " tree", receiver.url .. "/ok/" .. shape)
      local got = received_at(receiver, "/ok/" .. shape, 1)
      local job = settled(mock, id)
      local status, done = poll(mock, id)
      assert.equals(200, status)
      assert.equals(1, #got)
      assert.equals("application/json", got[1].content_type)
      assert.equals(done, got[1].body)
      assert.equals("succeeded", job.state)
      assert.equals(cjson.null, job.callback_fault)
      assert.same({ { status = 200 } }, job.callbacks)
    end)
  end

  it("POSTs a failed job's failed poll reply", function()
    local id = submit(mock, "[fail] a tree", receiver.url .. "/ok/failed")
    local got = received_at(receiver, "/ok/failed", 1)
    local _, done = poll(mock, id)
    assert.equals(done, got[1].body)
    assert.matches('"failed"', got[1].body, 1, true)
    assert.same({ { status = 200 } }, settled(mock, id).callbacks)
  end)

  it("records the receiver's error status, a refused connection and a timeout", function()
    mock:config { callback_timeout_ms = SHORT_TIMEOUT_MS }
    local answered = submit(mock, "answered", receiver.url .. "/status/503/x")
    local refused = submit(mock, "refused", "http://127.0.0.1:" .. closed_port() .. "/cb")
    local stalled = submit(mock, "stalled", receiver.url .. "/stall/x")
    assert.same({ { status = 503 } }, settled(mock, answered).callbacks)
    local refused_job = settled(mock, refused)
    assert.equals(1, #refused_job.callbacks)
    assert.matches("connect", refused_job.callbacks[1].error)
    local stalled_job = settled(mock, stalled)
    assert.matches("Timeout", stalled_job.callbacks[1].error)
    assert.is_nil(stalled_job.callbacks[1].status)
  end)

  describe("faults", function()
    it("never: no POST, and the job is done and pollable", function()
      mock:config { callback_fault = "never" }
      local id = submit(mock, "lost", receiver.url .. "/ok/never")
      local job = settled(mock, id)
      assert.equals("never", job.callback_fault)
      assert.same({}, job.callbacks)
      local status, body = poll(mock, id)
      assert.equals(200, status)
      assert.equals("succeeded", cjson.decode(body).status)
      -- A job submitted after it, with no fault, is delivered; this one is not.
      mock:config { callback_fault = "none" }
      submit(mock, "found", receiver.url .. "/ok/after")
      received_at(receiver, "/ok/after", 1)
      helper.sleep(0.1)
      assert.equals(1, receiver:count().count)
    end)

    it("late: the POST comes callback_late_ms after the job is done", function()
      mock:config { callback_fault = "late", callback_late_ms = LATE_MS }
      local before = receiver:count().now
      local id = submit(mock, "late", receiver.url .. "/ok/late")
      local status, body = poll(mock, id)
      assert.equals(200, status)
      assert.equals("succeeded", cjson.decode(body).status)
      assert.equals(1, job_of(mock, id).callbacks_pending)
      local got = received_at(receiver, "/ok/late", 1)
      assert.is_true(got[1].at - before >= LATE_MS / 1000,
        "the callback came " .. (got[1].at - before) .. " s after the submit")
      assert.equals(body, got[1].body)
      local job = settled(mock, id)
      assert.equals("late", job.callback_fault)
      assert.same({ { status = 200 } }, job.callbacks)
    end)

    it("twice: the same POST twice", function()
      mock:config { callback_fault = "twice" }
      local id = submit(mock, "double", receiver.url .. "/ok/twice")
      local job = settled(mock, id)
      local got = received_at(receiver, "/ok/twice", 2)
      local _, done = poll(mock, id)
      assert.equals(2, #got)
      assert.equals(done, got[1].body)
      assert.equals(done, got[2].body)
      assert.equals("twice", job.callback_fault)
      assert.same({ { status = 200 }, { status = 200 } }, job.callbacks)
      helper.sleep(0.1)
      assert.equals(2, receiver:count().count)
    end)

    it("garbage: a body that is not JSON, sent as application/json", function()
      mock:config { callback_fault = "garbage" }
      local id = submit(mock, "garbled", receiver.url .. "/ok/garbage")
      local got = received_at(receiver, "/ok/garbage", 1)
      local _, done = poll(mock, id)
      assert.equals("application/json", got[1].content_type)
      assert.is_false(pcall(cjson.decode, got[1].body))
      assert.is_true(#got[1].body > 0 and #got[1].body < #done)
      assert.equals(done:sub(1, #got[1].body), got[1].body)
      assert.equals("garbage", settled(mock, id).callback_fault)
    end)

    it("other_shape: JSON with neither the job's id nor a status", function()
      mock:config { callback_fault = "other_shape" }
      local id = submit(mock, "odd", receiver.url .. "/ok/other")
      local got = received_at(receiver, "/ok/other", 1)
      local body = cjson.decode(got[1].body)
      assert.is_table(body)
      assert.is_nil(body.id)
      assert.is_nil(body.status)
      assert.is_nil(got[1].body:find(id, 1, true))
      assert.same({ { status = 200 } }, settled(mock, id).callbacks)
    end)

    it("draws one of a set for the given share of jobs, the same again for the same seed", function()
      local function run()
        mock:reset()
        receiver:reset()
        mock:config { callback_fault = "never,twice", callback_fault_percent = 50, chaos_seed = 7 }
        for i = 1, MIX_JOBS do submit(mock, "mix " .. i, receiver.url .. "/ok/mix") end
        local faults, posts = {}, 0
        for i, job in ipairs(mock:jobs()) do
          faults[i] = job.callback_fault == cjson.null and "none" or job.callback_fault
          posts = posts + ({ none = 1, never = 0, twice = 2 })[faults[i]]
        end
        assert.equals(MIX_JOBS, #faults)
        received_at(receiver, "/ok/mix", posts)
        return faults, posts
      end
      local first, posts = run()
      local seen = {}
      for _, fault in ipairs(first) do seen[fault] = (seen[fault] or 0) + 1 end
      assert.is_truthy(seen.none and seen.never and seen.twice, "faults drawn: " .. table.concat(first, " "))
      assert.equals(posts, receiver:count().count)
      assert.same(first, (run()))
    end)

    it("go with the request faults: a faulted poll is counted, the callback still comes twice", function()
      mock:config { callback_fault = "twice" }
      mock:fault { on = "poll", status = 503 }
      local id = submit(mock, "both", receiver.url .. "/ok/both")
      assert.equals(503, (poll(mock, id)))
      assert.equals(200, (poll(mock, id)))
      received_at(receiver, "/ok/both", 2)
      local job = settled(mock, id)
      assert.equals(2, job.gets)
      assert.same({ { status = 200 }, { status = 200 } }, job.callbacks)
    end)

    it("are refused at run time with 400 naming the setting", function()
      local bad = {
        { callback_fault = "sometimes" }, { callback_fault = "never,never" },
        { callback_fault = "none,twice" }, { callback_fault = "" },
        { callback_fault_percent = "101" }, { callback_late_ms = "soon" },
        { callback_timeout_ms = "0" }, { callback_connections = "0" },
        { callback_connections = "1025" }, { callback_hold = "2" }, { callback_hold = "yes" },
      }
      for _, query in ipairs(bad) do
        local key = next(query)
        local status, body = config_error(mock, query)
        assert.equals(400, status)
        assert.equals(key, body.field)
      end
      local _, body = config_error(mock, { callback_fault = "sometimes" })
      assert.equals("unknown callback fault 'sometimes' (none, or a comma-separated list of: "
        .. "never, late, twice, garbage, other_shape)", body.message)
      _, body = config_error(mock, { callback_fault = "never,never" })
      assert.equals("callback fault never is given twice", body.message)
      _, body = config_error(mock, { callback_hold = "2" })
      assert.equals("callback_hold must be 1 (hold callbacks) or 0 (send them)", body.message)
      -- Nothing was changed by the refusals.
      assert.equals("none", mock:config {}.callback_fault)
      assert.equals(0, mock:config {}.callback_hold)
    end)

    it("are refused at startup with exit 2 and the reason", function()
      local cases = {
        { "--callback-fault sometimes", "unknown callback fault 'sometimes'" },
        { "--callback-fault-percent 150", "callback_fault_percent must be a whole percentage" },
        { "--callback-late-ms -1", "callback_late_ms must be a whole number" },
        { "--callback-timeout-ms 0", "callback_timeout_ms must be a whole number of ms from 1" },
        { "--callback-connections 2000", "callback_connections must be a whole number from 1 to 1024" },
        { "--callback-cacert /nonexistent/ca.pem", "cannot read '/nonexistent/ca.pem'" },
      }
      for _, case in ipairs(cases) do
        local code, out = refused_start(case[1])
        assert.equals(2, code)
        assert.matches(case[2], out, 1, true)
      end
    end)
  end)

  it("counts every GET of a job's /sdk/art/{id} in gets, and pending ones in polls", function()
    mock:config { polls = 2 }
    local id = submit(mock, "polled", receiver.url .. "/ok/polled")
    local other = submit(mock, "not polled", receiver.url .. "/ok/polled")
    assert.equals(0, job_of(mock, id).gets)
    for _ = 1, 3 do assert.equals(200, (poll(mock, id))) end
    assert.equals(200, (poll(mock, id, "-I")))
    assert.equals(404, (poll(mock, "no-such-job")))
    local job = settled(mock, id)
    assert.equals(4, job.gets)
    assert.equals(2, job.polls)
    assert.equals(0, job_of(mock, other).gets)
    mock:reset()
    assert.same({}, mock:jobs())
  end)

  it("holds callbacks that fall due with callback_hold=1, and sends them on 0", function()
    mock:config { callback_hold = 1 }
    local id = submit(mock, "held", receiver.url .. "/ok/held")
    local status, body = poll(mock, id)
    assert.equals(200, status)
    assert.equals("succeeded", cjson.decode(body).status)
    helper.sleep(0.1)
    assert.equals(0, receiver:count().count)
    assert.equals(1, job_of(mock, id).callbacks_pending)
    mock:config { callback_hold = 0 }
    received_at(receiver, "/ok/held", 1)
    assert.same({ { status = 200 } }, settled(mock, id).callbacks)
  end)

  it("keeps at most callback_connections POSTs in flight", function()
    mock:config { callback_hold = 1, callback_connections = FEW_CONNECTIONS }
    submit_many(mock, FEW_CONNECTIONS_JOBS, receiver.url .. "/ok/few")
    local before = receiver:count()
    mock:config { callback_hold = 0 }
    received_at(receiver, "/ok/few", FEW_CONNECTIONS_JOBS)
    local after = receiver:count()
    assert.is_true(after.peak_connections - before.open_connections <= FEW_CONNECTIONS,
      (after.peak_connections - before.open_connections) .. " connections at once")
    for _, job in ipairs(all_settled(mock)) do
      assert.same({ { status = 200 } }, job.callbacks)
    end
  end)

  it("delivers " .. BURST .. " callbacks due at once, over more than 128 connections", function()
    mock:config { callback_hold = 1 }
    local jobs = submit_many(mock, BURST, receiver.url .. "/ok/burst")
    for _, job in ipairs(jobs) do
      assert.equals("succeeded", job.state)
      assert.equals(1, job.callbacks_pending)
    end
    assert.equals(0, receiver:count().count)

    local released = receiver:count().now
    mock:config { callback_hold = 0 }
    local got = received_at(receiver, "/ok/burst", BURST)
    local last = released
    local ids = {}
    for _, r in ipairs(got) do
      last = math.max(last, r.at)
      ids[cjson.decode(r.body).id] = true
    end
    for _, job in ipairs(all_settled(mock)) do
      assert.is_true(ids[job.id], "no callback for job " .. job.id)
      assert.same({ { status = 200 } }, job.callbacks)
    end
    local count = receiver:count()
    assert.equals(BURST, count.count)
    assert.is_true(count.peak_connections >= BURST_CONNECTIONS_LEAST,
      "at most " .. count.peak_connections .. " connections at once")
    print(string.format("# mock callbacks: %d due at once delivered in %.0f ms, %d connections at once",
      BURST, (last - released) * 1000, count.peak_connections))
  end)

  it("stops promptly with callbacks in flight", function()
    local own = helper.start_mock { "--polls", "0" }
    for i = 1, 3 do submit(own, "stalled " .. i, receiver.url .. "/stall/stop") end
    received_at(receiver, "/stall/stop", 3)
    assert.is_true(stop_mock(own, STOP_SECONDS),
      "dalle-mock was still running " .. STOP_SECONDS .. " s after SIGTERM")
  end)
end)

describe("dalle-mock callbacks over https", function()
  local dir, receiver

  setup(function()
    dir = helper.tmpdir()
    assert.is_true(helper.run_ok("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
      .. " -addext subjectAltName=IP:127.0.0.1 -keyout " .. sh_quote(dir .. "/key.pem")
      .. " -out " .. sh_quote(dir .. "/cert.pem") .. " >/dev/null 2>&1"))
    receiver = start_receiver(dir .. "/cert.pem", dir .. "/key.pem")
  end)
  teardown(function()
    receiver:stop()
    helper.run_ok("rm -rf " .. sh_quote(dir))
  end)

  it("verifies the receiver against --callback-cacert, and refuses it without", function()
    local trusting = helper.start_mock { "--polls", "0", "--callback-cacert", dir .. "/cert.pem" }
    local plain = helper.start_mock { "--polls", "0" }
    local trusted = submit(trusting, "over tls", receiver.url .. "/ok/tls")
    local untrusted = submit(plain, "over tls", receiver.url .. "/ok/tls")
    local trusted_job = settled(trusting, trusted)
    local untrusted_job = settled(plain, untrusted)
    stop_mock(trusting)
    stop_mock(plain)
    assert.same({ { status = 200 } }, trusted_job.callbacks)
    assert.is_string(untrusted_job.callbacks[1].error)
    assert.equals(1, receiver:count().count)
  end)
end)
