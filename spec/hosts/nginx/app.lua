-- The app nginx runs for spec/hosts/nginx_spec.lua: lua-dalle called the plain
-- way from nginx's handlers and timers (one client per worker, made as the
-- worker starts), a 10 ms ticker recording how late it runs, and calls from
-- phases where nginx cannot wait. Handlers answer in "key value" lines.
-- luacheck: read globals ngx, globals ngx.ctx
local dalle = require "dalle"
local semaphore = require "ngx.semaphore"
local now = require("dalle.core").now

local M = {}

local MOCK_URL = os.getenv("DALLE_MOCK_URL")
local IMAGES = os.getenv("DALLE_NGINX_IMAGES")
local TICK_SECONDS = 0.01
-- Small images: the mock drawing large ones takes the CPUs nginx shares
-- with it, and the ticker would measure that.
local SIZE = "256x256"
-- Seconds any one call here may take: the spec is over long before.
local CALL_TIMEOUT = 30
-- When a timer cancels a job or closes a client that a request waits on.
local INTERRUPT_AFTER = 0.2

local function new_client()
  return assert(dalle.new {
    api_key = "test-key",
    base_url = MOCK_URL,
    callback = MOCK_URL .. "/_mock/callback",
    poll_interval = 0.05,
    max_poll_interval = 0.2,
  })
end

-- The worker's client, shared by its requests: this module is first
-- required by init_worker_by_lua.
local client = new_client()

local lags = {}
local ticking = true
local in_flight = 0
-- Phase --> what a call made there returned.
local refused = {}

-- generate, then download into IMAGES/<name>.png; a line saying how it went.
local function make_image(with, name)
  local result, err = with:generate { prompt = "nginx " .. name, size = SIZE, timeout = CALL_TIMEOUT }
  if result then result, err = with:download(result, IMAGES .. "/" .. name .. ".png") end
  if not result then return "failed " .. tostring(err) end
  return "saved " .. name
end

-- A call where nginx cannot wait: records what it returned, and returns it.
function M.job_refused()
  local phase = ngx.get_phase()
  local result, err = client:generate { prompt = "nginx " .. phase, timeout = CALL_TIMEOUT }
  refused[phase] = result and "succeeded" or tostring(err)
  return refused[phase]
end

function M.init_worker()
  local last = now()
  local function tick(premature)
    if premature or not ticking then return end
    local t = now()
    lags[#lags + 1] = math.max(0, t - last - TICK_SECONDS)
    last = t
    assert(ngx.timer.at(TICK_SECONDS, tick))
  end
  assert(ngx.timer.at(TICK_SECONDS, tick))
  M.job_refused()
end

function M.job()
  in_flight = in_flight + 1
  local outcome = make_image(client, "job-" .. ngx.var.arg_i)
  in_flight = in_flight - 1
  ngx.say(outcome)
end

-- The worker's pid, the jobs in flight now, and the ticks' lags in seconds
-- since the last ?clear=1. ?stop=1 stops the ticker for good (bench/hosts.lua
-- measures the idle worker without it).
function M.tick()
  local out = { "pid " .. ngx.worker.pid(), "in_flight " .. in_flight }
  for _, lag in ipairs(lags) do out[#out + 1] = "lag " .. lag end
  if ngx.var.arg_clear then lags = {} end
  if ngx.var.arg_stop then ticking = false end
  ngx.say(table.concat(out, "\n"))
end

function M.job_in_phase()
  ngx.ctx.outcome = make_image(client, ngx.get_phase())
end

function M.say_outcome()
  ngx.say(ngx.ctx.outcome)
end

function M.job_in_timer()
  local done, outcome = semaphore.new(0), nil
  assert(ngx.timer.at(0, function()
    outcome = make_image(client, ngx.get_phase())
    done:post(1)
  end))
  assert(done:wait(CALL_TIMEOUT))
  ngx.say(outcome)
end

-- A client made in the handler, two jobs on it waited for side by side.
function M.jobs_on_own_client()
  local own = new_client()
  local jobs = {}
  for i = 1, 2 do jobs[i] = assert(own:submit { prompt = "nginx own " .. i }) end
  local out = {}
  for i, outcome in ipairs(assert(own:wait_all(jobs, { timeout = CALL_TIMEOUT }))) do
    local ok, err = outcome[1], outcome[2]
    if ok then ok, err = own:download(outcome[1], IMAGES .. "/own-" .. i .. ".png") end
    out[i] = ok and "saved own-" .. i or "failed " .. tostring(err)
  end
  own:close()
  ngx.say(table.concat(out, "\n"))
end

-- Two light threads of one request, each making an image on the worker's client.
function M.jobs_in_threads()
  local threads = {}
  for i = 1, 2 do threads[i] = ngx.thread.spawn(make_image, client, "thread-" .. i) end
  local out = {}
  for i, thread in ipairs(threads) do
    local ok, outcome = ngx.thread.wait(thread)
    out[i] = ok and outcome or "failed " .. tostring(outcome)
  end
  ngx.say(table.concat(out, "\n"))
end

-- What ended a wait that a timer cut short, and how long it waited.
local function interrupted_wait(wait, interrupt)
  assert(ngx.timer.at(INTERRUPT_AFTER, interrupt))
  local start = now()
  local result, err = wait()
  ngx.say("ended ", result and "succeeded" or err.kind, "\n", string.format("waited %.3f", now() - start))
end

function M.cancel_while_waiting()
  local job = assert(client:submit { prompt = "nginx cancel" })
  interrupted_wait(function() return job:wait { timeout = CALL_TIMEOUT } end,
    function() job:cancel() end)
end

function M.close_while_waiting()
  local own = new_client()
  interrupted_wait(function() return own:generate { prompt = "nginx close", timeout = CALL_TIMEOUT } end,
    function() own:close() end)
end

function M.refusals()
  local out = {}
  for phase, outcome in pairs(refused) do out[#out + 1] = phase .. " " .. outcome end
  ngx.say(table.concat(out, "\n"))
end

return M
