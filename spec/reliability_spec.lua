-- Reliability and security: no hidden duplicate submits, cancel, the stall
-- guard, plain-http refusal, logging with the key redacted, and lifetimes.
local helper = require "helper"
local dalle = require "dalle"
local core = require "dalle.core"

describe("reliability", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  it("never lets libcurl resend a submit on a reused connection that died", function()
    -- A poll leaves a kept-alive connection; the service then drops the
    -- submit. Had the submit reused that connection, libcurl would have sent
    -- it again by itself and the caller would never know.
    local _, perr = client:job("warmup"):poll()
    assert.equals(404, perr.status)
    mock:fault { drop = 1, on = "submit" }
    local job, err = client:submit { prompt = "x" }
    assert.is_nil(job)
    assert.equals("network", err.kind)
    assert.is_true(err.maybe_submitted)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  it("still submits exactly once when the service closes every connection after replying", function()
    mock:fault { idle_close = 1, count = 50, on = "any" }
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    assert.is_string(result.url)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  it("honours Retry-After given as an HTTP date", function()
    local job = assert(client:submit { prompt = "x" })
    mock:fault { status = 429, retry_after_date = 1, on = "poll" }
    local start = core.now()
    assert(job:wait { timeout = 10 })
    assert.is_true(core.now() - start >= 0.9)
  end)

  it("drops a reply that trickles slower than 1 byte/s for stall_timeout", function()
    client:close()
    client = mock:client { stall_timeout = 1, max_retries = 0 }
    local job = assert(client:submit { prompt = "x" })
    mock:fault { trickle = 1, trickle_ms = 3000, on = "poll" }
    local start = core.now()
    local ok, err = job:poll()
    assert.is_nil(ok)
    assert.equals("timeout", err.kind)
    assert.is_true(core.now() - start < 10)
  end)

  describe("job:cancel()", function()
    it("stops a wait in a coroutine at once and frees its transfers", function()
      mock:config { polls = 1000 }
      local job = assert(client:submit { prompt = "x" })
      local co = coroutine.create(function() return job:wait { timeout = 30 } end)
      assert.is_true(coroutine.resume(co))
      assert.is_true(job:cancel())
      local ok, result, err = coroutine.resume(co)
      assert.is_true(ok)
      assert.is_nil(result)
      assert.equals("canceled", err.kind)
      assert.equals(0, client:step(0))
    end)

    it("frees a poll that is in flight", function()
      local job = assert(client:submit { prompt = "x" })
      mock:fault { stall = 1, stall_ms = 5000, on = "poll" }
      local co = coroutine.create(function() return job:poll() end)
      assert.is_true(coroutine.resume(co))
      assert.equals(1, select(1, client._core:active()))
      job:cancel()
      assert.equals(0, select(1, client._core:active()))
      local _, _, err = coroutine.resume(co)
      assert.equals("canceled", err.kind)
    end)

    it("makes later polls and waits return canceled", function()
      local job = client:job("abc")
      job:cancel()
      local _, err = job:poll()
      assert.equals("canceled", err.kind)
      _, err = job:wait { timeout = 1 }
      assert.equals("canceled", err.kind)
      assert.equals(0, #mock:requests())
    end)
  end)

  describe("plain http", function()
    it("is refused for a host that is not this machine", function()
      local c, err = dalle.new { api_key = "k", base_url = "http://example.com" }
      assert.is_nil(c)
      assert.equals("base_url", err.field)
      assert.matches("allow_insecure_http", err.message)
    end)

    it("is allowed for loopback hosts, https, and by allow_insecure_http", function()
      for _, url in ipairs { "http://localhost:8080", "http://127.0.0.7", "http://[::1]:9",
        "https://example.com", "HTTP://LOCALHOST" } do
        assert(dalle.new { api_key = "k", base_url = url }):close()
      end
      assert(dalle.new { api_key = "k", base_url = "http://example.com", allow_insecure_http = true }):close()
    end)
  end)

  describe("the log option", function()
    local SECRET = "test-key"

    it("reports each request, response and retry, never the key", function()
      local records = {}
      client:close()
      client = mock:client { max_retries = 2, log = function(r) records[#records + 1] = r end }
      mock:fault { status = 503, on = "submit" }
      assert(client:generate { prompt = "x", timeout = 10 })
      local seen = {}
      for _, r in ipairs(records) do
        seen[r.event] = (seen[r.event] or 0) + 1
        assert.is_string(r.message)
        for _, v in pairs(r) do assert.is_nil(tostring(v):find(SECRET, 1, true)) end
      end
      assert.is_true(seen.request >= 3)
      assert.equals(seen.request, seen.response)
      assert.equals(1, seen.retry)
      local submit = records[1]
      assert.equals("POST", submit.method)
      assert.equals(mock.url .. "/sdk/models/dall-e", submit.url)
      assert.equals(503, records[2].status)
      assert.is_number(records[2].elapsed)
    end)

    it("keeps working when the log function raises", function()
      client:close()
      client = mock:client { log = function() error("logger broke") end }
      assert(client:generate { prompt = "x", timeout = 10 })
    end)

    it("DALLE_DEBUG=1 writes the same lines to stderr, without the key", function()
      local script = helper.tmpdir() .. "/debug.lua"
      local f = assert(io.open(script, "w"))
      f:write(([[
        local dalle = require "dalle"
        local c = assert(dalle.new { api_key = %q, base_url = %q, callback = %q, poll_interval = 0.05 })
        assert(c:generate { prompt = "x", timeout = 10 })
      ]]):format(SECRET, mock.url, mock.url .. "/_mock/callback"))
      f:close()
      local out = helper.run_lua(script, "DALLE_DEBUG=1")
      assert.matches("dalle: POST " .. mock.url:gsub("%p", "%%%0") .. "/sdk/models/dall%-e", out)
      assert.matches("%-> 200 in", out)
      assert.is_nil(out:find(SECRET, 1, true))
    end)
  end)

  describe("lifetimes", function()
    it("a client collected with transfers in flight is closed harmlessly", function()
      mock:fault { stall = 1, stall_ms = 2000, on = "submit" }
      do
        local c = mock:client()
        local co = coroutine.create(function() return c:submit { prompt = "x" } end)
        assert.is_true(coroutine.resume(co))
        -- Drive it until the mock holds the submit, then let go of it all.
        for _ = 1, 100 do
          c:step(0.02)
          if #mock:requests_to("submit") == 1 then break end
        end
        assert.equals(1, #mock:requests_to("submit"))
      end
      collectgarbage()
      collectgarbage()
      assert(client:generate { prompt = "y", timeout = 10 })
    end)

    it("a job of a closed client is refused with a clear message", function()
      local job = client:job("abc")
      client:close()
      assert.has_error(function() job:wait() end, "attempt to use a job of a closed dalle client")
    end)
  end)
end)
