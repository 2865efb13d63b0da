-- Waiting inside coroutines: calls yield the client instead of blocking, many
-- jobs share one client and progress together, and a driver is simple.
local helper = require "helper"

local run = helper.drive

describe("in a coroutine", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  it("step hands out exactly the coroutines whose wait has news", function()
    local quiet = mock:client { poll_interval = 10, max_poll_interval = 10 }
    local soon, later = assert(quiet:submit { prompt = "soon" }), assert(quiet:submit { prompt = "later" })
    local a = coroutine.create(function() return soon:wait { timeout = 0.2 } end)
    local b = coroutine.create(function() return later:wait { timeout = 5 } end)
    assert.is_true(coroutine.resume(a))
    assert.is_true(coroutine.resume(b))
    local now = require("dalle.core").now
    local start = now()
    local _, ready = quiet:step(2)
    -- a's deadline came first; b has no news and is not handed out.
    assert.same({ a }, ready)
    assert.is_true(now() - start < 1)
    local _, _, err = coroutine.resume(a)
    assert.equals("timeout", err.kind)
    later:cancel()
    _, ready = quiet:step(0)
    assert.same({ b }, ready)
    _, _, err = coroutine.resume(b)
    assert.equals("canceled", err.kind)
    _, ready = quiet:step(0)
    assert.same({}, ready)
    quiet:close()
  end)

  it("generate yields the client instead of blocking", function()
    local co = coroutine.create(function() return client:generate { prompt = "x", timeout = 10 } end)
    local ok, yielded = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals("suspended", coroutine.status(co))
    assert.equals(client, yielded)
    local results, yields = run(client, { co })
    assert.is_true(yields > 0)
    assert.matches("%.png$", results[1][1].url)
  end)

  it("runs 100 generates on one client side by side", function()
    mock:config { delay_ms = 500, polls = 0 }
    local cos = {}
    for i = 1, 100 do
      cos[i] = coroutine.create(function()
        return client:generate { prompt = "picture " .. i, timeout = 60 }
      end)
      assert.is_true(coroutine.resume(cos[i]))
    end
    -- Each coroutine yielded with its submit started: all 100 requests are
    -- on the one client together, not one after another; they are handed to
    -- libcurl a few per step, up to the max_transfers cap (64 by default).
    local running, _, queued = client._core:active()
    assert.equals(100, running + queued)
    assert.is_true(running <= 64, running .. " running")
    local results = run(client, cos)
    for i = 1, 100 do
      assert.is_table(results[i][1], tostring(results[i][2]))
    end
    assert.equals(100, #mock:requests_to("submit"))
  end)

  it("wait, poll, submit and download each yield inside a coroutine", function()
    local dir = helper.tmpdir()
    local steps = {}
    local co = coroutine.create(function()
      local job = assert(client:submit { prompt = "x" })
      steps[#steps + 1] = "submitted"
      assert.is_false(job:poll())
      steps[#steps + 1] = "polled"
      local result = assert(job:wait { timeout = 10 })
      steps[#steps + 1] = "waited"
      assert(client:download(result, dir .. "/x.png"))
      steps[#steps + 1] = "downloaded"
      return true
    end)
    local _, yields = run(client, { co })
    assert.same({ "submitted", "polled", "waited", "downloaded" }, steps)
    assert.is_true(yields >= 4)
    helper.rmdir(dir)
  end)

  it("is harmless to resume at the wrong time: with no step since it yielded, the call "
    .. "blocks until done instead of yielding again (and spinning)", function()
    local co = coroutine.create(function() return client:generate { prompt = "x", timeout = 10 } end)
    local ok, yielded = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals(client, yielded)
    local result
    ok, result = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals("dead", coroutine.status(co))
    assert.equals("succeeded", result.status)
  end)

  it("honours a deadline while the driver only steps", function()
    mock:config { polls = 1000 }
    local co = coroutine.create(function() return client:generate { prompt = "x", timeout = 0.3 } end)
    local results = run(client, { co })
    assert.is_nil(results[1][1])
    assert.equals("timeout", results[1][2].kind)
  end)

  it("blocks instead of yielding when the config says yield = false", function()
    client:close()
    client = mock:client { yield = false }
    local co = coroutine.create(function() return client:generate { prompt = "x", timeout = 10 } end)
    local ok, result = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals("dead", coroutine.status(co))
    assert.matches("%.png$", result.url)
  end)

  it("gets a closed error when the client is closed while it waits", function()
    local co = coroutine.create(function() return client:generate { prompt = "x", timeout = 10 } end)
    assert.is_true(coroutine.resume(co))
    client:close()
    local ok, result, err = coroutine.resume(co)
    assert.is_true(ok)
    assert.is_nil(result)
    assert.equals("closed", err.kind)
  end)
end)
