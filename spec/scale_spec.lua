-- Many jobs on one client: the max_transfers queue, and the pollable
-- protocol (pollfd, events, timeout) a host event loop watches.
local helper = require "helper"
local core = require "dalle.core"
local dalle = require "dalle"

describe("scale", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)
  after_each(function() client:close() end)

  local function drive(cos) return helper.drive(client, cos) end

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

  if not dalle.HAS_POLLFD then
    it("says pollfd is unsupported without epoll, and still steps on timeout()", function()
      client = mock:client()
      local fd, err = client:pollfd()
      assert.is_nil(fd)
      assert.equals("unsupported", err.kind)
      assert.matches("step%(%)", err.message)
      assert.equals("r", client:events())
      local job = assert(client:submit { prompt = "x" })
      local co = coroutine.create(function() return job:wait { timeout = 10 } end)
      assert.is_true(coroutine.resume(co))
      assert.is_number(client:timeout())
      local results = drive { co }
      assert.is_table(results[1][1])
    end)
    return
  end

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

  it("turns pollfd readable when a timer is due, for loops that watch only the descriptor", function()
    local socket = require "socket"
    client = mock:client()
    local watched = { getfd = function() return client:pollfd() end, dirty = function() return false end }
    local timer = client._core:timer(0.2)
    local start = core.now()
    assert.same({}, (socket.select({ watched }, nil, 0.05)), "readable before the timer was due")
    local readable = socket.select({ watched }, nil, 2)
    assert.equals(watched, readable[1])
    assert.is_true(core.now() - start >= 0.19)
    local events = client._core:step(0)
    assert.equals(timer, events[1].id)
    -- Handled: quiet again until something else is due.
    assert.same({}, (socket.select({ watched }, nil, 0.05)), "still readable after step")
  end)
end)

describe("wait_all and wait_any", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  local function submit_many(prompts)
    local jobs = {}
    for i, p in ipairs(prompts) do jobs[i] = assert(client:submit { prompt = p }) end
    return jobs
  end

  it("wait_all returns every outcome in order, results and errors alike", function()
    local jobs = submit_many { "a", "[fail] b", "c" }
    local outcomes = client:wait_all(jobs, { timeout = 10 })
    assert.equals(3, #outcomes)
    assert.equals(jobs[1].id, outcomes[1][1].id)
    assert.is_nil(outcomes[2][1])
    assert.equals("failed", outcomes[2][2].kind)
    assert.equals(jobs[3].id, outcomes[3][1].id)
  end)

  it("wait_all waits for the jobs side by side", function()
    local prompts = {}
    for i = 1, 20 do prompts[i] = "p" .. i end
    local jobs = submit_many(prompts)
    local co = coroutine.create(function() return client:wait_all(jobs, { timeout = 10 }) end)
    assert.is_true(coroutine.resume(co))
    -- After one resume every job is waiting at once: each holds its poll
    -- timer, or its poll request when that was due already (a slow run);
    -- neither needs a deadline alarm, as both end by the deadline.
    local running, timers, queued = client._core:active()
    assert.equals(20, running + timers + queued)
    local ok, outcomes
    while coroutine.status(co) == "suspended" do
      client:step(1)
      ok, outcomes = coroutine.resume(co)
      assert.is_true(ok)
    end
    for i = 1, 20 do assert.is_table(outcomes[i][1], tostring(outcomes[i][2])) end
  end)

  it("wait_all gives timeout errors for the jobs that did not finish in time", function()
    local jobs = submit_many { "a" }
    mock:config { polls = 1000 }
    jobs[2] = assert(client:submit { prompt = "b" })
    local outcomes = client:wait_all(jobs, { timeout = 1 })
    assert.is_table(outcomes[1][1])
    assert.equals("timeout", outcomes[2][2].kind)
  end)

  it("wait_any returns the first job to finish, and the others stay usable", function()
    mock:config { polls = 1000 }
    local slow = assert(client:submit { prompt = "slow" })
    mock:config { polls = 1 }
    local quick = assert(client:submit { prompt = "quick" })
    local job, result = client:wait_any({ slow, quick }, { timeout = 10 })
    assert.equals(quick, job)
    assert.equals(quick.id, result.id)
    assert.equals("pending", slow.status)
    assert.equals(0, select(1, client._core:active()))
    assert.is_false(slow:poll())
  end)

  it("wait_any reports a job that failed as its answer", function()
    mock:config { polls = 1000 }
    local slow = assert(client:submit { prompt = "slow" })
    mock:config { polls = 1 }
    local failing = assert(client:submit { prompt = "[fail] x" })
    local job, result, err = client:wait_any({ slow, failing }, { timeout = 10 })
    assert.equals(failing, job)
    assert.is_nil(result)
    assert.equals("failed", err.kind)
  end)

  it("wait_any times out when no job finishes", function()
    mock:config { polls = 1000 }
    local jobs = submit_many { "a", "b" }
    local job, err = client:wait_any(jobs, { timeout = 0.5 })
    assert.is_nil(job)
    assert.equals("timeout", err.kind)
  end)

  it("both work inside a coroutine, yielding the client", function()
    local jobs = submit_many { "a", "b" }
    local co = coroutine.create(function() return client:wait_all(jobs, { timeout = 10 }) end)
    local ok, yielded = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals(client, yielded)
    local outcomes
    while coroutine.status(co) == "suspended" do
      client:step(1)
      ok, outcomes = coroutine.resume(co)
      assert.is_true(ok)
    end
    assert.is_table(outcomes[1][1])
    assert.is_table(outcomes[2][1])
  end)

  it("raise on arguments of the wrong type", function()
    assert.has_error(function() client:wait_all("x") end)
    assert.has_error(function() client:wait_any({ 42 }) end)
    assert.has_error(function() client:wait_all({}, 5) end)
  end)
end)
