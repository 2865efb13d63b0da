-- The `dalle` command, run as a child process against dalle-mock: options
-- and exit codes, batch files checked before anything is sent, runs that
-- resume from the journal, uncertain submits left alone, Ctrl-C, the
-- progress line on a pseudo-terminal, and a batch killed at random moments
-- under 20% chaos that still ends with one image per prompt.
local helper = require "helper"
local cjson = require "cjson"
local journal_module = require "dalle.journal"

local INSTRUMENTED = os.getenv("DALLE_INSTRUMENTED")
local LUA = helper.interpreter()
local quote = helper.sh_quote
-- The crash test: prompts, SIGKILLs, and how many runs may follow them.
local CRASH_PROMPTS = INSTRUMENTED and 40 or 200
local CRASH_KILLS = INSTRUMENTED and 2 or 5
local CRASH_RERUNS = 25
local PNG_MAGIC = "\137PNG\r\n\26\n"

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function json_lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = assert(cjson.decode(line)) end
  return out
end

local function count_lines(path, pattern)
  local n = 0
  for line in (helper.read_file(path) or ""):gmatch("[^\n]+") do
    if line:find(pattern) then n = n + 1 end
  end
  return n
end

describe("the dalle command", function()
  local mock, work

  -- The environment the command runs in: the mock's URL and key.
  local function environment(extra)
    return "env AIRIGHT_API_KEY=test-key AIRIGHT_BASE_URL=" .. quote(mock.url)
      .. " AIRIGHT_CALLBACK_URL=" .. quote(mock.url .. "/_mock/callback") .. " " .. (extra or "")
  end

  -- The interpreter, with the sanitizer runtime the specs' own has preloaded
  -- (the command loads the same core).
  local function interpreter()
    local preload = os.getenv("LD_PRELOAD")
    return (preload and "env LD_PRELOAD=" .. quote(preload) .. " " or "") .. LUA
  end

  local function command_line(args, extra_env)
    return environment(extra_env) .. " " .. interpreter() .. " bin/dalle " .. args
  end

  -- Runs the command; returns its exit code, stdout and stderr.
  local function dalle(args, extra_env)
    local out, err = work .. "/stdout", work .. "/stderr"
    local code = helper.capture(command_line(args, extra_env) .. " >" .. out .. " 2>" .. err
      .. " </dev/null; echo $?")
    return tonumber(code), helper.read_file(out), helper.read_file(err)
  end

  -- Starts the command in the background; returns its pid and a function
  -- that waits for it and returns its exit code, stdout and stderr (nil
  -- code: killed by a signal).
  local runs = 0
  local function start(args)
    runs = runs + 1
    local base = work .. "/run" .. runs
    os.execute("(" .. command_line(args) .. " >" .. base .. ".out 2>" .. base .. ".err </dev/null & "
      .. "echo $! >" .. base .. ".pid; wait $!; echo $? >" .. base .. ".code) >/dev/null 2>&1 &")
    local pid
    for _ = 1, 200 do
      pid = tonumber(helper.read_file(base .. ".pid") or "")
      if pid then break end
      helper.sleep(0.02)
    end
    assert(pid, "the command did not start")
    return pid, function()
      local code
      for _ = 1, 1500 do
        code = helper.read_file(base .. ".code")
        if code and code:find("\n") then break end
        helper.sleep(0.02)
      end
      code = assert(tonumber(code), "the command did not end")
      return code < 128 and code or nil, helper.read_file(base .. ".out"),
        helper.read_file(base .. ".err")
    end
  end

  setup(function() mock = helper.start_mock { "--polls", "1" } end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    work = helper.tmpdir()
  end)
  after_each(function() helper.rmdir(work) end)

  describe("options", function()
    it("has --help for itself and every subcommand, exit 0", function()
      for _, sub in ipairs { "", "generate", "batch", "status", "wait", "validate" } do
        local code, out = dalle(sub .. " --help")
        assert.equals(0, code)
        assert.matches("Usage: dalle " .. sub, out, 1, true)
      end
      local _, out = dalle("--help")
      assert.matches("AIRIGHT_API_KEY only", out, 1, true)
      assert.matches("3 interrupted", out, 1, true)
    end)

    it("exits 2 on a usage error, naming it", function()
      local code, _, err = dalle("batch prompts.txt")
      assert.equals(2, code)
      assert.matches("missing option '-o'", err, 1, true)
      code, _, err = dalle("frobnicate")
      assert.equals(2, code)
      assert.matches("unknown command 'frobnicate'", err, 1, true)
      code, _, err = dalle("generate fox --api-key test-key")
      assert.equals(2, code)
      assert.matches("unknown option '--api-key'", err, 1, true)
      code, _, err = dalle("generate fox --timeout soon")
      assert.equals(2, code)
      assert.matches("--timeout must be a number", err, 1, true)
    end)

    it("takes the API key from the environment only", function()
      local code, _, err = dalle("generate fox", "AIRIGHT_API_KEY=")
      assert.equals(2, code)
      assert.matches("set AIRIGHT_API_KEY", err, 1, true)
      assert.equals(0, #mock:requests())
    end)
  end)

  describe("one job", function()
    it("generate saves the image and prints its path", function()
      local code, out = dalle("generate 'a red fox' -s 256x256 --poll-interval 0.05 -o " .. quote(work .. "/fox.png"))
      assert.equals(0, code)
      assert.equals(work .. "/fox.png\n", out)
      assert.equals(PNG_MAGIC, helper.read_file(work .. "/fox.png"):sub(1, 8))
      code, out = dalle("generate 'a blue owl' -m dall-e-3 -q hd --style natural --json --poll-interval 0.05 -o "
        .. quote(work .. "/owl.png"))
      assert.equals(0, code)
      local result = cjson.decode(out)
      assert.equals("succeeded", result.status)
      assert.equals(work .. "/owl.png", result.path)
      assert.equals(mock:jobs()[2].id, result.id)
      assert.equals("hd", mock:requests_to("submit")[2].fields.quality)
    end)

    it("generate exits 2 for a prompt the rules refuse, 1 for a job that failed", function()
      local code, _, err = dalle("generate fox -m dall-e-2 -q hd")
      assert.equals(2, code)
      assert.matches("quality", err)
      assert.equals(0, #mock:requests())
      code = dalle("generate 'fox [fail]' --poll-interval 0.05 -o " .. quote(work .. "/x.png"))
      assert.equals(1, code)
    end)

    it("status and wait work on a job submitted by anyone", function()
      mock:config { delay_ms = 400 }
      local client = mock:client()
      local job = assert(client:submit { prompt = "a moth" })
      client:close()
      local code, out = dalle("status " .. job.id)
      assert.equals(3, code)
      assert.matches("^pending", out)
      code, out = dalle("wait " .. job.id .. " --poll-interval 0.05 -o " .. quote(work .. "/moth.png"))
      assert.equals(0, code)
      assert.equals(work .. "/moth.png\n", out)
      code, out = dalle("status --json " .. job.id)
      assert.equals(0, code)
      assert.equals("succeeded", cjson.decode(out).status)
      code = dalle("status nosuchjob")
      assert.equals(1, code)
    end)
  end)

  describe("batch", function()
    it("checks every line before sending anything", function()
      write_file(work .. "/bad.txt", table.concat({
        "a fine prompt",
        '{"prompt": "a cat", "size": "640x480"}',
        "# a comment",
        '{"prompt": "a dog", "colour": "red"}',
        '{"prompt": "a dog", "output": "../escape.png"}',
        '{"prompt": "a dog"',
        '{"prompt": "one", "output": "same.png"}',
        '{"prompt": "two", "output": "same.png"}',
      }, "\n"))
      local code, _, err = dalle("batch " .. quote(work .. "/bad.txt") .. " -o " .. quote(work .. "/out"))
      assert.equals(2, code)
      assert.matches("line 2: invalid size '640x480'", err, 1, true)
      assert.matches("line 4: unknown key 'colour'", err, 1, true)
      assert.matches("line 5: 'output' must be a plain file name", err, 1, true)
      assert.matches("line 6: not a JSON object", err, 1, true)
      assert.matches("line 8: output 'same.png' is already line 7's", err, 1, true)
      assert.is_nil(err:find("line 1:", 1, true))
      assert.matches("nothing was sent", err, 1, true)
      assert.equals(0, #mock:requests())
      code, _, err = dalle("validate " .. quote(work .. "/bad.txt"))
      assert.equals(2, code)
      assert.matches("line 2:", err, 1, true)
    end)

    it("saves every image, reports each as JSON, and skips them when run again", function()
      write_file(work .. "/batch.txt", table.concat({
        "a red fox",
        '{"prompt": "a tall heron", "model": "dall-e-3", "size": "1792x1024", "output": "heron.png"}',
        "",
        "a red fox",
        "this one will [fail]",
      }, "\n") .. "\n")
      local args = "batch " .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/out")
        .. " -j 3 --poll-interval 0.05 --json"
      local code, out, err = dalle(args)
      assert.equals(1, code)
      local reports = json_lines(out)
      assert.equals(4, #reports)
      local by_line = {}
      for _, r in ipairs(reports) do by_line[r.line] = r end
      assert.equals("succeeded", by_line[1].status)
      assert.equals(work .. "/out/a-red-fox.png", by_line[1].path)
      assert.equals(work .. "/out/heron.png", by_line[2].path)
      assert.equals(work .. "/out/a-red-fox-2.png", by_line[4].path)
      assert.equals("failed", by_line[5].status)
      assert.equals("failed", by_line[5].error.kind)
      assert.equals("this one will [fail]", by_line[5].prompt)
      for _, name in ipairs { "a-red-fox.png", "heron.png", "a-red-fox-2.png" } do
        assert.equals(PNG_MAGIC, helper.read_file(work .. "/out/" .. name):sub(1, 8))
      end
      -- Not on a terminal: plain lines, no control characters.
      assert.is_nil((err:gsub("\n", "")):find("%c"))
      assert.matches("line 5 failed", err, 1, true)
      assert.equals(4, #mock:requests_to("submit"))
      -- Again: the journal says what is done; nothing is sent again, even
      -- with an image gone (the journal decides, not the directory).
      os.remove(work .. "/out/heron.png")
      code, out, err = dalle(args)
      assert.equals(1, code)
      assert.equals("", out)
      assert.matches("line 5 failed in an earlier run", err, 1, true)
      assert.equals(4, #mock:requests_to("submit"))
      assert.matches("3 done, 1 failed, 0 uncertain, 0 pending", err, 1, true)
    end)

    it("leaves an uncertain submit alone unless told, and exits 3", function()
      write_file(work .. "/batch.txt", "first prompt\nsecond prompt\n")
      local args = "batch " .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/out")
        .. " -j 1 --poll-interval 0.05 --json"
      mock:fault { on = "submit", drop = 1 }
      local code, out, err = dalle(args)
      assert.equals(3, code)
      local report = json_lines(out)
      assert.equals("uncertain", report[1].status)
      assert.equals("network", report[1].error.kind)
      assert.equals("succeeded", report[2].status)
      assert.matches("line 1 is uncertain", err, 1, true)
      code, out = dalle(args)
      assert.equals(3, code)
      assert.equals("uncertain", json_lines(out)[1].status)
      assert.equals(2, #mock:requests_to("submit"))
      code, out = dalle(args .. " --resubmit-uncertain")
      assert.equals(0, code)
      assert.equals("succeeded", json_lines(out)[1].status)
      assert.equals(3, #mock:requests_to("submit"))
    end)

    it("refuses a journal another run holds", function()
      write_file(work .. "/batch.txt", "a prompt\n")
      local client = mock:client { journal = work .. "/busy-journal" }
      local code, _, err = dalle("batch " .. quote(work .. "/batch.txt") .. " -o "
        .. quote(work .. "/out") .. " --journal " .. quote(work .. "/busy-journal"))
      client:close()
      assert.equals(2, code)
      assert.matches("locked", err, 1, true)
      assert.equals(0, #mock:requests())
    end)

    it("on Ctrl-C stops new submits, lets those in flight get their ids, exits 3", function()
      local prompts = {}
      for i = 1, 12 do prompts[i] = "interrupted prompt " .. i end
      write_file(work .. "/batch.txt", table.concat(prompts, "\n"))
      mock:fault { on = "submit", delay_ms = 600, count = 100 }
      local journal = work .. "/out/.dalle-journal"
      local args = "batch " .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/out")
        .. " -j 3 --poll-interval 0.05"
      local pid, finished = start(args)
      for _ = 1, 200 do
        if count_lines(journal, '"event":"intent"') == 3 then break end
        helper.sleep(0.02)
      end
      assert.equals(0, count_lines(journal, '"event":"submitted"'))
      os.execute("kill -INT " .. pid)
      local code, _, err = finished()
      assert.equals(3, code)
      assert.matches("interrupted", err, 1, true)
      assert.equals(3, count_lines(journal, '"event":"intent"'))
      local view = assert(journal_module.read(journal))
      if not jit then
        -- PUC Lua raises Ctrl-C's error only in the main thread, where the
        -- command waits for it; LuaJIT's hook fires anywhere (README).
        assert.equals(3, #view.pending)
        assert.equals(0, #view.uncertain)
      end
      assert.equals(3, #mock:requests_to("submit"))

      -- A second Ctrl-C ends it at once, in the middle of its submits.
      mock:reset()
      mock:fault { on = "submit", delay_ms = 3000, count = 100 }
      journal = work .. "/again/.dalle-journal"
      pid, finished = start("batch " .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/again")
        .. " -j 3 --poll-interval 0.05")
      helper.sleep(0.5)
      os.execute("kill -INT " .. pid)
      helper.sleep(0.1)
      local started = require("dalle.core").now()
      os.execute("kill -INT " .. pid .. " 2>/dev/null")
      code = finished()
      -- Under LuaJIT the first one already stopped it at once (exit 3).
      if not (jit and code == 3) then assert.is_nil(code) end
      assert.is_true(require("dalle.core").now() - started < 2)
      assert(journal_module.read(journal))
    end)

    it("draws one live progress line on a terminal, a few times a second", function()
      local prompts = {}
      for i = 1, 16 do prompts[i] = '{"prompt": "progress ' .. i .. '", "size": "256x256"}' end
      write_file(work .. "/batch.txt", table.concat(prompts, "\n"))
      mock:config { delay_ms = 250 }
      local tty_err = work .. "/tty"
      local result = helper.capture(environment() .. " python3 spec/fixtures/cli/pty_run.py "
        .. quote(work .. "/tty.out") .. " " .. quote(tty_err) .. " " .. interpreter() .. " bin/dalle batch "
        .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/out") .. " -j 4 --poll-interval 0.05")
      local code, seconds = result:match("^(%d+) ([%d.]+)")
      assert.equals("0", code)
      local text = helper.read_file(tty_err)
      local draws = 0
      for _ in text:gmatch("\r\27%[Kdalle: %d+ done, %d+ failed, %d+ pending | [%d.]+/s | %d+:%d%d elapsed | ETA ") do
        draws = draws + 1
      end
      assert.is_true(draws >= 2, "the progress line was drawn " .. draws .. " times")
      assert.is_true(draws <= 4 * tonumber(seconds) + 2, draws .. " draws in " .. seconds .. " s")
      assert.matches("16 done, 0 failed, 0 uncertain, 0 pending", text, 1, true)
      -- Done items are in the line, not a line each.
      assert.is_nil(text:find("line 1 done", 1, true))
      assert.equals("", helper.read_file(work .. "/tty.out"))
    end)
  end)

  it("ends a batch killed at random moments under 20% chaos with one image per prompt", function()
    local prompts, lines = {}, {}
    for i = 1, CRASH_PROMPTS do
      prompts[i] = "crash test prompt " .. i
      lines[i] = cjson.encode { prompt = prompts[i], size = "256x256", output = i .. ".png" }
    end
    write_file(work .. "/batch.txt", table.concat(lines, "\n"))
    mock:config { chaos = 20, chaos_seed = 7 }
    local args = "batch " .. quote(work .. "/batch.txt") .. " -o " .. quote(work .. "/out")
      .. " -j 16 --poll-interval 0.05 --json"
    local reported = {} -- prompts some run reported uncertain
    local function note_reports(out)
      for _, r in ipairs(json_lines(out or "")) do
        if r.status == "uncertain" then reported[r.prompt] = true end
      end
    end
    math.randomseed(os.time())
    for _ = 1, CRASH_KILLS do
      local pid, finished = start(args)
      helper.sleep(0.2 + math.random() * 0.8)
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      local _, out = finished()
      note_reports(out)
    end
    local code, resubmit, reruns
    resubmit, reruns = "", 0
    repeat
      reruns = reruns + 1
      local out
      code, out = dalle(args .. resubmit)
      note_reports(out)
      -- Uncertain ones are left alone once, then sent again on purpose.
      resubmit = code == 3 and " --resubmit-uncertain" or ""
    until code == 0 or reruns == CRASH_RERUNS
    assert.equals(0, code)

    local jobs_of = {}
    for _, job in ipairs(mock:jobs()) do jobs_of[job.prompt] = (jobs_of[job.prompt] or 0) + 1 end
    for i, prompt in ipairs(prompts) do
      local image = helper.read_file(work .. "/out/" .. i .. ".png")
      assert.equals(PNG_MAGIC, image and image:sub(1, 8), "no image for line " .. i)
      local submitted = jobs_of[prompt] or 0
      assert.is_true(submitted >= 1, prompt .. " never reached the service")
      assert.is_true(submitted == 1 or reported[prompt] ~= nil,
        prompt .. " was submitted " .. submitted .. " times, never reported uncertain")
    end
    assert.equals(CRASH_PROMPTS + 1, #helper.list_dir(work .. "/out"))
    local view = assert(journal_module.read(work .. "/out/.dalle-journal"))
    assert.equals(CRASH_PROMPTS, #view.finished)
    assert.same({}, view.pending)
    assert.same({}, view.uncertain)
    print(string.format("# cli: %d prompts, %d kills, %d reruns, %d reported uncertain",
      CRASH_PROMPTS, CRASH_KILLS, reruns, (function()
        local n = 0
        for _ in pairs(reported) do n = n + 1 end
        return n
      end)()))
  end)
end)
