-- The event-loop adapters: 200 jobs in flight inside cqueues and luv, while a
-- 10 ms ticker in the same loop keeps ticking, proving the loop never
-- stalled on our waits. Skipped where the loop's package is not installed.
local helper = require "helper"

local JOBS = 200
local WATCHDOG = 60 -- seconds: a broken adapter fails the spec, never hangs it

local function loaded(name)
  local ok, module = pcall(require, name)
  return ok and module or nil
end

describe("event loops", function()
  local mock

  setup(function() mock = helper.start_mock { "--polls", "0", "--delay-ms", "500" } end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  describe("cqueues", function()
    local cqueues = loaded("cqueues")
    if not cqueues then
      it("is not installed for this Lua", function() pending("lua-cqueues is missing") end)
      return
    end

    -- Runs the controller until every coroutine, the driver included, ended.
    local function run(cq)
      local start = require("dalle.core").now()
      while not cq:empty() do
        assert(cq:step(1))
        assert(require("dalle.core").now() - start < WATCHDOG, "the controller never emptied")
      end
    end

    it("runs " .. JOBS .. " jobs while the loop keeps ticking", function()
      local cq = cqueues.new()
      local client = mock:client()
      require("dalle.cqueues").use(client, cq)
      -- The ticker runs from the first submit until the last job is done.
      local results, done, ticks = {}, 0, 0
      cq:wrap(function()
        while not client._closed do
          ticks = ticks + 1
          cqueues.sleep(0.01)
        end
      end)
      for i = 1, JOBS do
        cq:wrap(function()
          local result, err = client:generate { prompt = "cq " .. i, timeout = 30 }
          results[i] = result or err
          done = done + 1
          if done == JOBS then client:close() end
        end)
      end
      run(cq)
      for i = 1, JOBS do assert.equals("succeeded", results[i].status, tostring(results[i])) end
      assert.is_true(ticks >= 10, "ticks: " .. ticks)
      assert.equals(JOBS, #mock:requests_to("submit"))
      io.stdout:write("# loops: cqueues ran ", JOBS, " jobs; the 10 ms ticker ticked ", ticks,
        " times\n")
    end)

    it("runs wait_all inside a cqueues coroutine", function()
      local cq = cqueues.new()
      local client = mock:client()
      require("dalle.cqueues").use(client, cq)
      local outcomes
      cq:wrap(function()
        local jobs = {}
        for i = 1, 10 do jobs[i] = assert(client:submit { prompt = "w" .. i }) end
        outcomes = client:wait_all(jobs, { timeout = 30 })
        client:close()
      end)
      run(cq)
      for i = 1, 10 do assert.is_table(outcomes[i][1], tostring(outcomes[i][2])) end
    end)
  end)

  describe("luv", function()
    local uv = loaded("luv")
    if not uv then
      it("is not installed for this Lua", function() pending("lua-luv is missing") end)
      return
    end

    it("runs " .. JOBS .. " jobs while the loop keeps ticking", function()
      local client = mock:client()
      require("dalle.luv").use(client)
      local results, done, ticks = {}, 0, 0
      local ticker, watchdog = uv.new_timer(), uv.new_timer()
      local function finish()
        client:close()
        ticker:close()
        watchdog:close()
      end
      ticker:start(10, 10, function() ticks = ticks + 1 end)
      watchdog:start(WATCHDOG * 1000, 0, finish)
      for i = 1, JOBS do
        coroutine.wrap(function()
          local result, err = client:generate { prompt = "uv " .. i, timeout = 30 }
          results[i] = result or err
          done = done + 1
          if done == JOBS then finish() end
        end)()
      end
      uv.run()
      for i = 1, JOBS do assert.equals("succeeded", results[i].status, tostring(results[i])) end
      assert.is_true(ticks >= 10, "ticks: " .. ticks)
      io.stdout:write("# loops: luv ran ", JOBS, " jobs; the 10 ms ticker ticked ", ticks, " times\n")
    end)
  end)
end)
