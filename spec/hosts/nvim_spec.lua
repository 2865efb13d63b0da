-- lua-dalle inside real headless Neovim: the natural code (dalle.new with no
-- loop option, generate then download in coroutines) picks dalle.nvim, runs
-- 20 jobs while a uv ticker keeps ticking, and the code after each wait may
-- call vim.api; a cancel and a close from luv callbacks resume their waiters
-- the same way; a call in the main thread blocks. spec/hosts/nvim/jobs.lua
-- is what Neovim runs; examples/nvim.lua runs beside it.
local helper = require "helper"
local host = require "hosts.host"

local JOBS = 20
-- Neovim is killed by then if its script never ended itself (it gives up at 40 s).
local HOST_TIMEOUT = 55
-- Each job takes this long at the mock: the ticker never pausing that long
-- shows no wait blocked the editor's loop.
local JOB_DELAY_MS = 1000
-- The editor's CPU time over the run, as a share of the wall time, stays
-- under this: nothing spun.
local MAX_CPU_SHARE = 0.5
-- Two editor calls per job, one after the cancel and one after the close.
local EDITOR_CALLS = 2 * JOBS + 2
-- Jobs submitted: the 20, the canceled one, the one cut short by close, and
-- the main thread's.
local SUBMITS = JOBS + 3
local CORE_DIR = "build/luajit"

local sh_quote = helper.sh_quote

-- Starts headless Neovim running `commands` (Ex commands, in order) in
-- `dir`; returns a function that waits for it and returns its output, stderr
-- included, ending in "exit STATUS". Neovim is not the process a sanitizer
-- runtime is preloaded for (make check-asan).
local function start_nvim(dir, vars, commands)
  local argv = { "timeout -k 5", HOST_TIMEOUT, "nvim --headless -u NONE -i NONE -n" }
  for _, command in ipairs(commands) do argv[#argv + 1] = "-c " .. sh_quote(command) end
  local f = assert(io.popen("unset LD_PRELOAD; cd " .. sh_quote(dir) .. " && " .. host.env(vars) .. " "
    .. table.concat(argv, " ") .. " 2>&1; echo \"exit $?\"", "r"))
  return function()
    local output = f:read("*a")
    f:close()
    return output
  end
end

-- What every Neovim run must not have printed.
local function assert_no_editor_error(output)
  assert.is_nil(output:find("E5560", 1, true), output)
  assert.is_nil(output:find("Error", 1, true), output)
  assert.matches("exit 0\n$", output, nil, false, output)
end

describe("Neovim", function()
  local skipped, reason = host.skip_reason { name = "Neovim", lua = "LuaJIT", core_dir = CORE_DIR,
    commands = { "nvim" }, install = "scripts/hosts/install-nvim.sh" }
  if skipped then
    it(skipped, function() pending(reason) end)
    return
  end

  local root = host.CHECKOUT
  local mock, example_mock, dir
  local jobs_output, example_output

  -- Both runs start at once; each test then reads its own.
  setup(function()
    dir = helper.tmpdir()
    assert(helper.run_ok("mkdir " .. sh_quote(dir .. "/images") .. " " .. sh_quote(dir .. "/example")))
    mock = helper.start_mock { "--delay-ms", tostring(JOB_DELAY_MS), "--polls", "2" }
    jobs_output = start_nvim(dir, {
      DALLE_MOCK_URL = mock.url,
      DALLE_NVIM_IMAGES = dir .. "/images",
      DALLE_NVIM_RESULTS = dir .. "/results",
    }, { "luafile " .. root .. "/spec/hosts/nvim/jobs.lua" })
    -- The example's own settings poll from 2 s on: done at the first poll.
    example_mock = helper.start_mock { "--polls", "0" }
    local example_vars = host.client_vars(example_mock.url, CORE_DIR)
    example_vars.DALLE_NVIM_RESULTS = dir .. "/example-results"
    example_output = start_nvim(dir .. "/example", example_vars, {
      "luafile " .. root .. "/examples/nvim.lua",
      "DalleImage a red kite",
      "luafile " .. root .. "/spec/hosts/nvim/example_done.lua",
    })
  end)

  teardown(function()
    if jobs_output then jobs_output() end
    if example_output then example_output() end
    if mock then mock:stop() end
    if example_mock then example_mock:stop() end
    if dir then helper.rmdir(dir) end
  end)

  it("runs " .. JOBS .. " natural generate+download coroutines; after each wait vim.api works", function()
    local output = jobs_output()
    jobs_output = nil
    local results = host.read_lines(helper.read_file(dir .. "/results"))
    local context = output .. "\n" .. (helper.read_file(dir .. "/results") or "(no results file)")

    assert_no_editor_error(output)
    assert.same({}, results.error, context)
    assert.equals("true", results.finished[1], context)

    -- Picked by dalle.new alone; the editor calls after each wait prove it.
    assert.same({ "true" }, results.adapter_loaded)
    assert.same({ tostring(JOBS) }, results.jobs_done, context)
    assert.equals(EDITOR_CALLS, #results.editor_call, context)
    for _, fast in ipairs(results.fast_event) do assert.equals("false", fast) end

    for i = 1, JOBS do assert.is_true(host.is_png(dir .. "/images/" .. i .. ".png"), "image " .. i) end
    assert.equals(SUBMITS, #mock:requests_to("submit"))
    assert.equals(JOBS, #mock:requests_to("image"))

    -- The poll handle drives only while someone waits.
    assert.same({ "true" }, results.waiting_poll_active)
    assert.same({ "false" }, results.idle_poll_active)

    local lags = host.numbers(results.lag)
    local p99, worst = host.p99_and_max(lags)
    assert.is_true(#lags >= 10, "the ticker hardly ticked: " .. #lags .. " ticks")
    assert.is_true(worst < JOB_DELAY_MS / 1000, "the ticker stalled for " .. worst .. " s")
    local seconds, cpu = tonumber(results.run_seconds[1]), tonumber(results.run_cpu_seconds[1])
    assert.is_true(cpu < MAX_CPU_SHARE * seconds,
      string.format("Neovim used %.2f s of CPU in %.2f s", cpu, seconds))

    assert.same({ "canceled" }, results.cancel_result)
    assert.same({ "closed" }, results.close_result)
    -- A call in the main thread blocks as it does outside Neovim: the
    -- ticker stood still until it returned.
    assert.same({ "succeeded" }, results.main_thread_status)
    assert.same({ "0" }, results.main_thread_ticks)

    io.stdout:write(string.format("# hosts: nvim, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
      .. "over %d ticks; Neovim CPU %.2f s\n", JOBS, seconds, p99 * 1000, #lags, cpu))
  end)

  it("runs examples/nvim.lua: :DalleImage puts the saved image's path in the buffer", function()
    local output = example_output()
    example_output = nil
    local results = host.read_lines(helper.read_file(dir .. "/example-results"))
    local context = output .. "\n" .. (helper.read_file(dir .. "/example-results") or "(no results file)")
    assert_no_editor_error(output)
    assert.same({}, results.message, context)
    local path = results.line[2]
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/example/dalle%-%d+%-1%.png$", path or "", nil, false, context)
    assert.is_true(host.is_png(path), context)
    assert.equals(1, #example_mock:requests_to("image"))
  end)
end)
