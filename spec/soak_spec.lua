-- Soak: 2,000 jobs through dalle-mock with random faults on 20% of requests.
-- Every job ends in a result or an error of a kind those faults explain, no
-- job is created twice at the service, and memory does not grow between the
-- two halves of the run. Under valgrind it runs 200 jobs; under ASan or
-- valgrind (DALLE_INSTRUMENTED) the RSS figures are the tool's, not ours,
-- so they are printed but not held to the bound. A second run takes its
-- results by callback, with the callbacks faulted too (lost, late,
-- duplicated, garbage, another shape).
local helper = require "helper"

local INSTRUMENTED = os.getenv("DALLE_INSTRUMENTED")
local JOBS = tonumber(os.getenv("DALLE_SOAK_JOBS")) or (INSTRUMENTED == "valgrind" and 200 or 2000)
local CALLBACK_JOBS = INSTRUMENTED == "valgrind" and 100 or 500
local CALLBACK_FAULT_PERCENT = 40
local WORKERS = 50
local CHAOS_PERCENT = 20
-- RSS may move this much between the halves (allocator noise), no more.
local RSS_SLACK_KB = 1024

-- The kinds the chaos faults can explain: 500 on a submit (never resent),
-- a dropped or stalled submit (maybe submitted), malformed JSON, 429s that
-- outlast the retries.
local EXPLAINED = { http = true, network = true, timeout = true, decode = true, rate_limited = true }

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local pages = f:read("*a"):match("^%d+%s+(%d+)")
  f:close()
  return tonumber(pages) * 4
end

describe("soak", function()
  local mock, client

  setup(function()
    mock = helper.start_mock { "--polls", "1" }
    client = mock:client { timeout = 0.25, poll_interval = 0.01, max_poll_interval = 0.02 }
  end)
  teardown(function()
    client:close()
    mock:stop()
  end)

  -- Runs jobs first..last on WORKERS coroutines; returns outcome per prompt.
  local function run(first, last, outcomes, prefix)
    prefix = prefix or "soak "
    local next_job = first
    local workers = {}
    for w = 1, WORKERS do
      workers[w] = coroutine.create(function()
        while next_job <= last do
          local prompt = prefix .. next_job
          next_job = next_job + 1
          local result, err = client:generate { prompt = prompt, timeout = 20 }
          assert(outcomes[prompt] == nil, prompt .. " ended twice")
          -- The id alone: a result table per job would grow the RSS measured.
          outcomes[prompt] = result and result.id or err
        end
      end)
    end
    local alive = #workers
    while alive > 0 do
      client:step(1)
      alive = 0
      for _, co in ipairs(workers) do
        if coroutine.status(co) == "suspended" then
          assert(coroutine.resume(co))
          if coroutine.status(co) == "suspended" then alive = alive + 1 end
        end
      end
    end
  end

  it("ends every job correctly, creates none twice and holds its memory", function()
    local config = mock:config { chaos = CHAOS_PERCENT, chaos_seed = 2026 }
    assert.equals(CHAOS_PERCENT, config.chaos)
    local outcomes = {}
    local half = math.floor(JOBS / 2)
    run(1, half, outcomes)
    collectgarbage("collect")
    local rss_first = rss_kb()
    run(half + 1, JOBS, outcomes)
    collectgarbage("collect")
    local rss_second = rss_kb()

    local created = {}
    for _, job in ipairs(mock:jobs()) do
      assert.is_nil(created[job.prompt], "created twice: " .. job.prompt)
      created[job.prompt] = job
    end
    local ok, failed = 0, 0
    for i = 1, JOBS do
      local prompt = "soak " .. i
      local outcome = outcomes[prompt]
      assert.is_not_nil(outcome, prompt .. " never ended")
      if type(outcome) == "string" then
        ok = ok + 1
        assert.equals("succeeded", created[prompt].state)
      else
        failed = failed + 1
        assert.is_true(EXPLAINED[outcome.kind] ~= nil, prompt .. ": " .. tostring(outcome))
      end
    end
    local chaos = mock:config {}.chaos_faults
    io.stdout:write(string.format("# soak: %d jobs, %d ok, %d errors, %d faults injected, "
      .. "RSS %d KiB then %d KiB\n", JOBS, ok, failed, chaos, rss_first, rss_second))
    assert.is_true(chaos > JOBS / 10)
    assert.is_true(ok > JOBS / 2)
    if not INSTRUMENTED then
      assert.is_true(rss_second <= rss_first + RSS_SLACK_KB,
        "RSS grew from " .. rss_first .. " KiB to " .. rss_second .. " KiB")
    end
    assert.equals(0, client:step(0))
  end)

  it("ends every job exactly once when results come by faulted callbacks", function()
    mock:config { polls = 0, chaos = CHAOS_PERCENT, chaos_seed = 2027,
      callback_fault = "never,late,twice,garbage,other_shape",
      callback_fault_percent = CALLBACK_FAULT_PERCENT, callback_late_ms = 200 }
    local dalle = require "dalle"
    local previous = client
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url,
      callback_listen = "127.0.0.1:0", timeout = 0.25, poll_interval = 0.01,
      max_poll_interval = 0.02, callback_poll_interval = 1 })
    local outcomes = {}
    local ok, run_error = pcall(run, 1, CALLBACK_JOBS, outcomes, "callback soak ")
    local created = {}
    for _, job in ipairs(mock:jobs()) do
      if job.prompt:find("^callback soak ") then
        assert.is_nil(created[job.prompt], "created twice: " .. job.prompt)
        created[job.prompt] = job
      end
    end
    client:close()
    client = previous
    assert(ok, run_error)
    local succeeded, failed, faulted = 0, 0, 0
    for i = 1, CALLBACK_JOBS do
      local prompt = "callback soak " .. i
      local outcome = outcomes[prompt]
      assert.is_not_nil(outcome, prompt .. " never ended")
      local job = created[prompt]
      if job and type(job.callback_fault) == "string" then faulted = faulted + 1 end
      if type(outcome) == "string" then
        succeeded = succeeded + 1
        assert.equals(job.id, outcome)
        assert.equals("succeeded", job.state)
      else
        failed = failed + 1
        assert.is_true(EXPLAINED[outcome.kind] ~= nil, prompt .. ": " .. tostring(outcome))
      end
    end
    io.stdout:write(string.format("# soak: %d jobs by callback, %d ok, %d errors, %d with a "
      .. "faulted callback\n", CALLBACK_JOBS, succeeded, failed, faulted))
    assert.is_true(faulted > CALLBACK_JOBS / 5 and faulted < CALLBACK_JOBS * 3 / 5)
    assert.is_true(succeeded > CALLBACK_JOBS / 2)
  end)
end)
