-- What a failed submit says it did: "the job may have been submitted"
-- (err.maybe_submitted) when, and only when, the request may have reached
-- the service. A caller resubmits on the strength of this, and pays twice
-- when it is wrong the one way, or loses a job it thinks was sent the other.
local helper = require "helper"
local socket = require "socket"
local dalle = require "dalle"

-- Every status a submit can meet, and whether the job may have started.
-- The README's table says the same.
local SUBMIT_STATUSES = {
  { 400, false }, { 401, false }, { 402, false }, { 403, false }, { 404, false },
  { 405, false }, { 408, false }, { 409, true }, { 410, true }, { 411, false },
  { 413, false }, { 414, false }, { 415, false }, { 422, false }, { 429, false },
  { 431, false }, { 500, true }, { 501, true }, { 502, true }, { 503, false },
  { 504, true }, { 301, true }, { 302, true },
}

-- Runs the coroutines, stepping the client, until `target` ended; returns
-- what it returned.
local function run_until_done(client, coroutines, target)
  for _, co in ipairs(coroutines) do assert(coroutine.resume(co)) end
  local outcome
  while not outcome do
    client:step(0.05)
    for _, co in ipairs(coroutines) do
      if coroutine.status(co) == "suspended" then
        local ok, value, err = coroutine.resume(co)
        assert(ok, value)
        if co == target and coroutine.status(co) == "dead" then outcome = { value, err } end
      end
    end
  end
  return outcome[1], outcome[2]
end

describe("a failed submit", function()
  local state = helper.mock_per_test { max_retries = 0 }

  for _, case in ipairs(SUBMIT_STATUSES) do
    local status, maybe = case[1], case[2]
    it("answered with HTTP " .. status .. (maybe and " may have" or " cannot have")
      .. " submitted the job (a 500 lost maybe_submitted)", function()
      state.mock:fault { status = status, on = "submit" }
      local job, err = state.client:submit { prompt = "x" }
      assert.is_nil(job)
      assert.equals(status, err.status)
      assert.equals(maybe or nil, err.maybe_submitted)
      assert.equals(maybe, tostring(err):find("may have been submitted", 1, true) ~= nil)
    end)
  end

  it("whose 2xx reply cannot be read may have submitted the job", function()
    state.mock:fault { malformed = 1, on = "submit" }
    local _, err = state.client:submit { prompt = "x" }
    assert.equals("decode", err.kind)
    assert.is_true(err.maybe_submitted)
  end)

  it("still queued at its deadline was never sent, and says so (it claimed it may have been)",
    function()
      state.client:close()
      state.client = state.mock:client { max_transfers = 1 }
      state.mock:fault { stall = 1, stall_ms = 3000, on = "submit" }
      local holder = coroutine.create(function() return state.client:submit { prompt = "a", timeout = 5 } end)
      local queued = coroutine.create(function()
        return state.client:submit { prompt = "b", timeout = 0.3 }
      end)
      local job, err = run_until_done(state.client, { holder, queued }, queued)
      assert.is_nil(job)
      assert.equals("timeout", err.kind)
      assert.is_nil(err.maybe_submitted)
      assert.matches("never sent", err.message)
      assert.is_nil(tostring(err):find("may have been submitted", 1, true))
      -- Only the stalled submit reached the mock.
      assert.equals(1, #state.mock:requests_to("submit"))
    end)

  it("still connecting at its deadline was never sent, and says so", function()
    -- A listener whose accept queue is full: the kernel drops further
    -- connection attempts, so they stay in their handshake.
    local listener = assert(socket.bind("127.0.0.1", 0, 0))
    local _, port = listener:getsockname()
    local fillers = {}
    for i = 1, 4 do
      fillers[i] = socket.tcp()
      fillers[i]:settimeout(0)
      fillers[i]:connect("127.0.0.1", port)
    end
    local connecting = assert(dalle.new {
      api_key = "test-key", base_url = "http://127.0.0.1:" .. port, callback = state.mock.url .. "/cb",
      connect_timeout = 30,
    })
    local job, err = connecting:submit { prompt = "x", timeout = 0.5 }
    connecting:close()
    for _, filler in ipairs(fillers) do filler:close() end
    listener:close()
    assert.is_nil(job)
    -- Our deadline, or libcurl's timeout set to the same moment, ends it.
    local said = err.kind == "timeout" and err.message:find("never sent", 1, true)
        or err.kind == "network" and err.message:find("could not reach the service", 1, true)
    assert.truthy(said, tostring(err))
    assert.is_nil(err.maybe_submitted)
  end)

  it("sent, then out of time before the reply, may have submitted the job", function()
    state.mock:fault { stall = 1, stall_ms = 3000, on = "submit" }
    local job, err = state.client:submit { prompt = "x", timeout = 0.5 }
    assert.is_nil(job)
    assert.equals("timeout", err.kind)
    assert.is_true(err.maybe_submitted)
    assert.is_nil(err.message:find("never sent", 1, true))
  end)

  it("refused with 429 and out of time before its retry was never submitted", function()
    state.client:close()
    state.client = state.mock:client { max_retries = 3 }
    state.mock:fault { status = 429, retry_after = 5, on = "submit" }
    local _, err = state.client:submit { prompt = "x", timeout = 1 }
    assert.equals(429, err.status)
    assert.is_nil(err.maybe_submitted)
  end)
end)
