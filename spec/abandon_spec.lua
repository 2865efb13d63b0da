-- A waiter an app drops mid-wait (nginx ends the request, HAProxy shuts the
-- session down) never returns from its wait: its adapter abandons it, and
-- nothing of its waits may stay behind (it kept its entries and the core
-- kept its transfer and deadline alarm, up to the call's whole deadline).
local helper = require "helper"

describe("an adapter's waiter dropped mid-wait", function()
  local state = helper.mock_per_test()

  it("leaves no transfer, timer or entry once abandoned (they stayed until the deadline)",
    function()
      local driver, suspended
      local adapter = {
        -- The app runs only its own coroutines; the main thread blocks.
        waiter = function()
          local co, main = coroutine.running()
          if co and not main then return {} end
          return nil
        end,
        suspend = function(_, token)
          suspended = token
          coroutine.yield()
        end,
        wake = function() end,
        stop = function() end,
      }
      local client = state.client
      client:use(adapter, function(given) driver = given end)
      state.mock:config { polls = 1000 }
      local job = assert(client:submit { prompt = "x" })
      -- The app runs the wait in its own coroutine, then drops it.
      local co = coroutine.create(function() return job:wait { timeout = 600 } end)
      assert(coroutine.resume(co))
      assert.equals("suspended", coroutine.status(co))
      assert.is_table(suspended)
      local running, timers = client._core:active()
      assert.is_true(running + timers > 0)
      driver.abandon(suspended)
      running, timers = client._core:active()
      assert.equals(0, running)
      assert.equals(0, timers)
      -- The client goes on serving others.
      client:close()
      state.mock:reset()
      state.client = state.mock:client()
      assert(state.client:generate { prompt = "y", timeout = 10 })
    end)
end)
