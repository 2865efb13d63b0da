-- The event-loop adapters: 200 jobs in flight inside cqueues, luv and copas,
-- while other work in the same loop (a ticker; for copas, which has no
-- timers, a socket ping-pong) keeps running, proving the loop never stalled
-- on our waits. Skipped where the loop's package is not installed.
local helper = require "helper"
local dalle = require "dalle"

local JOBS = 200
-- In flight while the 1 ms ticker measures its lag (fewer under valgrind).
local LAG_JOBS = os.getenv("DALLE_INSTRUMENTED") == "valgrind" and 200 or 1000
local WATCHDOG = 60 -- seconds: a broken adapter fails the spec, never hangs it

-- The 99th percentile of how late each tick came, in ms.
local function p99_ms(lags)
  table.sort(lags)
  return lags[math.max(1, math.ceil(#lags * 0.99))] * 1000
end

local now = require("dalle.core").now

local function all_succeeded(results, count)
  for i = 1, count do
    assert.equals("succeeded", results[i] and results[i].status, tostring(results[i]))
  end
end

-- Prints the ticker's p99 lag; a check that it ran at all (timings are for
-- the bench, never assertions).
local function report_lag(loop, lags)
  assert.is_true(#lags >= 10, "the ticker hardly ran: " .. #lags .. " ticks")
  io.stdout:write(string.format("# loops: %s, %d jobs in flight: 1 ms ticker p99 lag %.2f ms "
    .. "over %d ticks (with whatever else runs; make bench measures it alone)\n", loop, LAG_JOBS,
    p99_ms(lags), #lags))
end

local loaded = helper.loaded

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
      local start = now()
      while not cq:empty() do
        assert(cq:step(1))
        assert(now() - start < WATCHDOG, "the controller never emptied")
      end
    end

    -- Runs `count` generates in the controller next to a ticker sleeping
    -- `tick` seconds. Returns the results, and how late each tick came once
    -- every job had started (starting them is the app's own burst of work).
    local function jobs_next_to_ticker(count, tick)
      local cq = cqueues.new()
      local client = mock:client()
      assert(require("dalle.cqueues").use(client, cq))
      local results, lags, done, started = {}, {}, 0, 0
      cq:wrap(function()
        local last = now()
        while not client._closed do
          cqueues.sleep(tick)
          local t = now()
          if started == count then lags[#lags + 1] = math.max(0, t - last - tick) end
          last = t
        end
      end)
      for i = 1, count do
        cq:wrap(function()
          started = started + 1
          local result, err = client:generate { prompt = "cq " .. i, timeout = 30 }
          results[i] = result or err
          done = done + 1
          if done == count then client:close() end
        end)
      end
      run(cq)
      return results, lags
    end

    it("runs " .. JOBS .. " jobs while the loop keeps ticking", function()
      local results, ticks = jobs_next_to_ticker(JOBS, 0.01)
      all_succeeded(results, JOBS)
      assert.is_true(#ticks >= 10, "ticks: " .. #ticks)
      assert.equals(JOBS, #mock:requests_to("submit"))
      io.stdout:write("# loops: cqueues ran ", JOBS, " jobs; the 10 ms ticker ticked ", #ticks,
        " times\n")
    end)

    it("keeps a 1 ms ticker ticking with " .. LAG_JOBS .. " jobs in flight (prints p99 lag)", function()
      local results, lags = jobs_next_to_ticker(LAG_JOBS, 0.001)
      all_succeeded(results, LAG_JOBS)
      report_lag("cqueues", lags)
    end)

    it("wakes a waiting coroutine at once when its job is canceled", function()
      mock:config { polls = 1000 }
      local cq = cqueues.new()
      local client = mock:client { poll_interval = 10, max_poll_interval = 10 }
      assert(require("dalle.cqueues").use(client, cq))
      local job = assert(client:submit { prompt = "cancel me" })
      local err
      cq:wrap(function()
        err = select(2, job:wait { timeout = 20 })
        client:close()
      end)
      cq:wrap(function()
        cqueues.sleep(0.05)
        job:cancel()
      end)
      local start = now()
      run(cq)
      assert.equals("canceled", err and err.kind)
      assert.is_true(now() - start < 2)
    end)

    it("runs wait_all inside a cqueues coroutine", function()
      local cq = cqueues.new()
      local client = mock:client()
      assert(require("dalle.cqueues").use(client, cq))
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

    -- Runs `count` generates in coroutines next to a uv timer repeating
    -- every `tick_ms`. Returns the results, and how late each tick came
    -- (from the first tick: the jobs all started before the loop ran).
    local function jobs_next_to_ticker(count, tick_ms)
      local client = mock:client()
      assert(require("dalle.luv").use(client))
      local results, lags, done, last = {}, {}, 0, nil
      local ticker, watchdog = uv.new_timer(), uv.new_timer()
      local function finish()
        client:close()
        ticker:close()
        watchdog:close()
      end
      ticker:start(tick_ms, tick_ms, function()
        local t = now()
        if last then lags[#lags + 1] = math.max(0, t - last - tick_ms / 1000) end
        last = t
      end)
      watchdog:start(WATCHDOG * 1000, 0, finish)
      for i = 1, count do
        coroutine.wrap(function()
          local result, err = client:generate { prompt = "uv " .. i, timeout = 30 }
          results[i] = result or err
          done = done + 1
          if done == count then finish() end
        end)()
      end
      uv.run()
      return results, lags
    end

    it("runs " .. JOBS .. " jobs while the loop keeps ticking", function()
      local results, ticks = jobs_next_to_ticker(JOBS, 10)
      all_succeeded(results, JOBS)
      assert.is_true(#ticks >= 10, "ticks: " .. #ticks)
      io.stdout:write("# loops: luv ran ", JOBS, " jobs; the 10 ms ticker ticked ", #ticks, " times\n")
    end)

    it("keeps a 1 ms ticker ticking with " .. LAG_JOBS .. " jobs in flight (prints p99 lag)", function()
      local results, lags = jobs_next_to_ticker(LAG_JOBS, 1)
      all_succeeded(results, LAG_JOBS)
      report_lag("luv", lags)
    end)

    it("wakes a waiting coroutine at once when its job is canceled", function()
      mock:config { polls = 1000 }
      local client = mock:client { poll_interval = 10, max_poll_interval = 10 }
      assert(require("dalle.luv").use(client))
      local job = assert(client:submit { prompt = "cancel me" })
      local err
      local canceler, watchdog = uv.new_timer(), uv.new_timer()
      local function finish()
        client:close()
        canceler:close()
        watchdog:close()
      end
      coroutine.wrap(function()
        err = select(2, job:wait { timeout = 20 })
        finish()
      end)()
      canceler:start(50, 0, function() job:cancel() end)
      watchdog:start(WATCHDOG * 1000, 0, finish)
      local start = now()
      uv.run()
      assert.equals("canceled", err and err.kind)
      assert.is_true(now() - start < 2)
    end)
  end)

  describe("copas", function()
    local copas = loaded("copas")
    local socket = loaded("socket")
    if not (copas and socket) then
      it("is not installed for this Lua", function() pending("lua-copas is missing") end)
      return
    end
    if not dalle.HAS_POLLFD then
      -- The poll() fallback: copas has no timer to step the client on, and
      -- LuaSocket's select needs a descriptor, so the adapter refuses.
      it("returns an unsupported error from use() without pollfd", function()
        local client = mock:client()
        local used, err = require("dalle.copas").use(client)
        assert.is_nil(used)
        assert.equals("unsupported", err.kind)
        client:close()
      end)
      return
    end

    -- Runs copas until `finished()`, failing the spec past the watchdog.
    local function run_until(finished)
      local start = now()
      while not finished() do
        copas.step(0.1)
        assert(now() - start < WATCHDOG, "copas never finished")
      end
    end

    -- Other work in the same loop: a loopback echo server and a thread that
    -- keeps pinging it, counting round trips until `stop()` says enough.
    local function pinger(stop)
      local server = assert(socket.bind("127.0.0.1", 0))
      local _, port = server:getsockname()
      copas.addserver(server, function(conn)
        conn = copas.wrap(conn)
        while conn:receive("*l") do conn:send("pong\n") end
      end)
      local state = { round_trips = 0, ended = false }
      copas.addthread(function()
        local tcp = socket.tcp()
        local ok, problem = copas.connect(tcp, "127.0.0.1", port)
        local conn = copas.wrap(tcp)
        while ok and not stop() do
          conn:send("ping\n")
          local reply = conn:receive("*l")
          ok, problem = reply == "pong", "the echo server answered " .. tostring(reply)
          state.round_trips = state.round_trips + 1
        end
        tcp:close()
        server:close()
        state.problem = not ok and problem or nil
        state.ended = true
      end)
      return state
    end

    it("runs " .. JOBS .. " jobs while the loop keeps serving other sockets", function()
      local client = mock:client()
      assert(require("dalle.copas").use(client))
      local results, done = {}, 0
      local pings = pinger(function() return done == JOBS end)
      for i = 1, JOBS do
        copas.addthread(function()
          local result, err = client:generate { prompt = "copas " .. i, timeout = 30 }
          results[i] = result or err
          done = done + 1
          if done == JOBS then client:close() end
        end)
      end
      run_until(function() return done == JOBS and pings.ended end)
      assert.is_nil(pings.problem)
      for i = 1, JOBS do assert.equals("succeeded", results[i].status, tostring(results[i])) end
      assert.is_true(pings.round_trips >= 10, "round trips: " .. pings.round_trips)
      assert.equals(JOBS, #mock:requests_to("submit"))
      io.stdout:write("# loops: copas ran ", JOBS, " jobs; a loopback ping-pong made ",
        pings.round_trips, " round trips meanwhile\n")
    end)

    it("wakes for poll timers with no socket activity (pollfd carries the timers)", function()
      local client = mock:client { poll_interval = 0.3, max_poll_interval = 0.3 }
      assert(require("dalle.copas").use(client))
      local result, err
      copas.addthread(function()
        result, err = client:generate { prompt = "copas timers", timeout = 10 }
        client:close()
      end)
      run_until(function() return result or err end)
      assert.equals("succeeded", result and result.status, tostring(err))
      assert.is_true(#mock:requests_to("poll") >= 1)
    end)

    it("wakes a waiting thread at once when its job is canceled", function()
      mock:config { polls = 1000 }
      local client = mock:client { poll_interval = 10, max_poll_interval = 10 }
      assert(require("dalle.copas").use(client))
      local job = assert(client:submit { prompt = "cancel me" })
      local err
      copas.addthread(function()
        err = select(2, job:wait { timeout = 20 })
        client:close()
      end)
      copas.addthread(function() job:cancel() end)
      local start = now()
      run_until(function() return err end)
      assert.equals("canceled", err.kind)
      assert.is_true(now() - start < 2)
    end)

    it("resumes a waiting thread with a closed error when the client closes", function()
      local client = mock:client()
      assert(require("dalle.copas").use(client))
      local job = assert(client:submit { prompt = "copas close" })
      local result, err
      copas.addthread(function() result, err = job:wait { timeout = 10 } end)
      copas.addthread(function() client:close() end)
      run_until(function() return result or err end)
      assert.is_nil(result)
      assert.equals("closed", err.kind)
    end)
  end)
end)
