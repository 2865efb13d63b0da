-- The callback receiver inside each event-loop adapter (cqueues, luv,
-- copas): the loop drives the client, so it drives the receiver, and every
-- job finishes by its callback with one confirming GET. Skipped where the
-- loop's package is not installed.
local helper = require "helper"
local dalle = require "dalle"
local now = require("dalle.core").now

local JOBS = 20
local WATCHDOG = 30 -- seconds: a broken adapter fails the spec, never hangs it
-- Polls this slow cannot have finished a job in time: only its callback can.
local SLOW_POLLS = { poll_interval = 5, max_poll_interval = 5, callback_poll_interval = 10 }
local QUICK = 3 -- seconds

local loaded = helper.loaded

describe("the callback receiver in event loops", function()
  local mock
  setup(function() mock = helper.start_mock { "--polls", "0", "--delay-ms", "300" } end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  local function receiver_client()
    local config = { api_key = "test-key", base_url = mock.url, callback_listen = "127.0.0.1:0" }
    for k, v in pairs(SLOW_POLLS) do config[k] = v end
    return assert(dalle.new(config))
  end

  -- Every job succeeded, quickly, with exactly one GET (the confirmation).
  local function check(results, started)
    assert.is_true(now() - started < QUICK, "the jobs waited for polls, not callbacks")
    local polls = {}
    for _, r in ipairs(mock:requests_to("poll")) do polls[r.path] = (polls[r.path] or 0) + 1 end
    for i = 1, JOBS do
      local result = results[i]
      assert.equals("succeeded", result and result.status, tostring(result))
      assert.equals(1, polls["/sdk/art/" .. result.id])
    end
  end

  local cqueues = loaded("cqueues")
  it("finishes jobs by callback inside cqueues", function()
    if not cqueues then return pending("lua-cqueues is missing") end
    local cq = cqueues.new()
    local client = receiver_client()
    assert(require("dalle.cqueues").use(client, cq))
    local results, done = {}, 0
    for i = 1, JOBS do
      cq:wrap(function()
        results[i] = client:generate { prompt = "cq " .. i, timeout = 20 }
        done = done + 1
        if done == JOBS then client:close() end
      end)
    end
    local started = now()
    while not cq:empty() do
      assert(cq:step(1))
      assert(now() - started < WATCHDOG, "the controller never emptied")
    end
    check(results, started)
  end)

  local uv = loaded("luv")
  it("finishes jobs by callback inside luv", function()
    if not uv then return pending("lua-luv is missing") end
    local client = receiver_client()
    assert(require("dalle.luv").use(client))
    local results, done = {}, 0
    local watchdog = uv.new_timer()
    local function finish()
      client:close()
      watchdog:close()
    end
    watchdog:start(WATCHDOG * 1000, 0, finish)
    local started = now()
    for i = 1, JOBS do
      coroutine.wrap(function()
        results[i] = client:generate { prompt = "uv " .. i, timeout = 20 }
        done = done + 1
        if done == JOBS then finish() end
      end)()
    end
    uv.run()
    check(results, started)
  end)

  local copas = loaded("copas")
  it("finishes jobs by callback inside copas", function()
    if not (copas and loaded("socket")) then return pending("lua-copas is missing") end
    if not dalle.HAS_POLLFD then return pending("copas needs pollfd (epoll)") end
    local client = receiver_client()
    assert(require("dalle.copas").use(client))
    local results, done = {}, 0
    for i = 1, JOBS do
      copas.addthread(function()
        results[i] = client:generate { prompt = "copas " .. i, timeout = 20 }
        done = done + 1
        if done == JOBS then client:close() end
      end)
    end
    local started = now()
    while done < JOBS do
      copas.step(0.1)
      assert(now() - started < WATCHDOG, "copas never finished")
    end
    check(results, started)
  end)
end)
