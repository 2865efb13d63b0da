-- Many jobs on one client: the max_transfers queue, and the pollable
-- protocol (pollfd, events, timeout) a host event loop watches.
local helper = require "helper"
local core = require "dalle.core"

describe("scale", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)
  after_each(function() client:close() end)

  local function drive(cos)
    local results, alive = {}, #cos
    while alive > 0 do
      client:step(1)
      alive = 0
      for i, co in ipairs(cos) do
        if coroutine.status(co) == "suspended" then
          local ok, value, err = coroutine.resume(co)
          assert(ok, value)
          if coroutine.status(co) == "dead" then results[i] = { value, err } else alive = alive + 1 end
        end
      end
    end
    return results
  end

  it("queues requests past max_transfers, and time queued is not the request's timeout", function()
    client = mock:client { max_transfers = 1, timeout = 0.6, max_retries = 0 }
    local jobs = {}
    for i = 1, 3 do jobs[i] = assert(client:submit { prompt = "x" .. i }) end
    mock:fault { delay_ms = 400, count = 3, on = "poll" }
    local cos = {}
    for i = 1, 3 do
      cos[i] = coroutine.create(function() return jobs[i]:poll() end)
    end
    local start = core.now()
    local results = drive(cos)
    for i = 1, 3 do
      assert.is_false(results[i][1], tostring(results[i][2]))
    end
    -- One at a time: the last poll waited about 0.8 s in the queue, longer
    -- than its 0.6 s timeout, and still succeeded.
    assert.is_true(core.now() - start >= 1.2)
  end)

  it("is pollable: a steady pollfd, events 'r', and timeout() for the next timer", function()
    client = mock:client()
    local fd = client:pollfd()
    assert.is_true(math.type == nil or math.type(fd) == "integer")
    assert.is_true(fd >= 0)
    assert.equals("r", client:events())
    assert.is_nil(client:timeout())
    local job = assert(client:submit { prompt = "x" })
    local co = coroutine.create(function() return job:wait { timeout = 10 } end)
    assert.is_true(coroutine.resume(co))
    local t = client:timeout()
    assert.is_number(t)
    assert.is_true(t >= 0 and t <= 10)
    assert.equals(fd, client:pollfd())
    local results = drive { co }
    assert.is_table(results[1][1])
  end)
end)
