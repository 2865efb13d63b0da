-- The journal (config `journal`): an intent synced before each submit
-- leaves, the id once the reply is read, each job's outcome; resume() gives
-- back what is unfinished and what is uncertain; a torn last line is
-- tolerated, other damage named and never written over; one client per file.
local helper = require "helper"
local journal_module = require "dalle.journal"

local lines_of = helper.json_lines

local function events_of(path, key)
  local out = {}
  for _, line in ipairs(lines_of(path)) do
    if line.key == key then out[#out + 1] = line.event end
  end
  return out
end

local function append(path, text)
  local f = assert(io.open(path, "ab"))
  f:write(text)
  f:close()
end

local function keys_of(list)
  local out = {}
  for i, item in ipairs(list) do out[i] = item.key end
  table.sort(out)
  return out
end

describe("the journal", function()
  local mock, dir, path
  local clients = {}
  local function client(extra)
    local config = { journal = path }
    for k, v in pairs(extra or {}) do config[k] = v end
    local c = mock:client(config)
    clients[#clients + 1] = c
    return c
  end

  setup(function()
    mock = helper.start_mock()
    dir = helper.tmpdir()
  end)
  teardown(function()
    mock:stop()
    helper.rmdir(dir)
  end)
  before_each(function()
    mock:reset()
    path = dir .. "/journal"
    os.remove(path)
  end)
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
  end)

  it("notes the intent before the submit leaves, then the id, then the outcome", function()
    local c = client()
    mock:fault { on = "submit", delay_ms = 300 }
    local co = coroutine.create(function() return c:submit { prompt = "a heron", key = "heron" } end)
    assert.is_true(coroutine.resume(co))
    assert.equals("suspended", coroutine.status(co))
    -- The submit is out; the journal already says so, as another process
    -- would read it after a crash here: uncertain, never forgotten.
    assert.same({ "intent" }, events_of(path, "heron"))
    local seen = assert(journal_module.read(path))
    assert.same({ "heron" }, keys_of(seen.uncertain))
    local results = helper.drive(c, { co })
    local job = assert(results[1][1])
    assert.same({ "intent", "submitted" }, events_of(path, "heron"))
    assert(job:wait { timeout = 10 })
    assert.same({ "intent", "submitted", "succeeded" }, events_of(path, "heron"))
    local lines = lines_of(path)
    assert.same({ journal = "lua-dalle", version = 1 }, lines[1])
    assert.same({ prompt = "a heron", model = "dall-e-2", size = "1024x1024" }, lines[2].request)
    assert.equals(job.id, lines[3].id)
    assert.equals(job.result.url, lines[4].images[1])
  end)

  it("is private, and holds neither the API key nor the callback's path", function()
    local c = client { callback = mock.url .. "/_mock/callback?token=s3cret-path" }
    assert(c:generate { prompt = "a lark", timeout = 10 })
    local _, err = c:generate { prompt = "a lark [fail]", timeout = 10 }
    assert.equals("failed", err.kind)
    c:close()
    local text = helper.read_file(path)
    assert.is_nil(text:find("test-key", 1, true))
    assert.is_nil(text:find("s3cret", 1, true))
    assert.is_nil(text:find("callback", 1, true))
    assert.equals("-rw-------", helper.capture("ls -l " .. helper.sh_quote(path)):sub(1, 10))
  end)

  it("gives back unfinished jobs as handles, and finished ones with their notes", function()
    mock:config { delay_ms = 800 }
    local c = client()
    local slow = assert(c:submit { prompt = "slow one", key = "slow" })
    local _, err = slow:wait { timeout = 0.2 }
    assert.equals("timeout", err.kind)
    mock:config { delay_ms = 0 }
    assert(c:generate { prompt = "quick one", key = "quick", timeout = 10 })
    assert(c:note("quick", { saved = "quick.png", bytes = 42 }))
    local _, ferr = c:generate { prompt = "doomed [fail]", key = "doomed", timeout = 10 }
    assert.equals("failed", ferr.kind)
    c:close()

    -- A deadline is no outcome: the slow job is still pending, as a handle.
    local again = client()
    local state = assert(again:resume())
    assert.equals(1, #state.pending)
    local job = state.pending[1]
    assert.equals("slow", job.key)
    assert.equals(slow.id, job.id)
    assert.equals("slow one", job.params.prompt)
    assert.same({}, state.uncertain)
    assert.same({ "doomed", "quick" }, keys_of(state.finished))
    for _, entry in ipairs(state.finished) do
      if entry.key == "quick" then
        assert.equals("succeeded", entry.status)
        assert.same({ saved = "quick.png", bytes = 42 }, entry.notes)
      else
        assert.equals("failed", entry.status)
        assert.equals("failed", entry.error.kind)
      end
    end
    -- The pending one's outcome lands once: waiting on a second handle of
    -- the same job adds nothing.
    local result = assert(job:wait { timeout = 10 })
    assert(again:job(slow.id):wait { timeout = 10 })
    assert.same({ "intent", "submitted", "succeeded" }, events_of(path, "slow"))
    assert.equals(result.url, lines_of(path)[#lines_of(path)].images[1])
    assert.same({}, again:resume().pending)
  end)

  it("reports a submit that may have reached the service as uncertain and never resends it", function()
    local c = client()
    mock:fault { on = "submit", drop = 1 }
    local _, err = c:submit { prompt = "dropped", key = "dropped" }
    assert.is_true(err.maybe_submitted)
    c:close()
    local again = client()
    local state = again:resume()
    assert.same({ "dropped" }, keys_of(state.uncertain))
    assert.equals("network", state.uncertain[1].error.kind)
    assert.equals("dropped", state.uncertain[1].request.prompt)
    assert.same({}, state.pending)
    again:step(0.1)
    assert.equals(1, #mock:requests_to("submit"))
    -- The caller decides: sent again under the same key, it replaces the
    -- uncertain one.
    assert(again:generate { prompt = "dropped", key = "dropped", timeout = 10 })
    state = again:resume()
    assert.same({}, state.uncertain)
    assert.same({ "dropped" }, keys_of(state.finished))
  end)

  it("tells a submit the service refused (unsent) from an uncertain one", function()
    local c = client()
    mock:fault { on = "submit", status = 400 }
    local _, err = c:submit { prompt = "nowhere", key = "nowhere" }
    assert.equals(400, err.status)
    assert.is_nil(err.maybe_submitted)
    local state = c:resume()
    assert.same({ "nowhere" }, keys_of(state.unsent))
    assert.same({}, state.uncertain)
  end)

  it("keeps a job unreadable on one poll pending, since the service may answer the next", function()
    local c = client { max_retries = 0 }
    local job = assert(c:submit { prompt = "garbled", key = "garbled" })
    mock:fault { on = "poll", malformed = 1 }
    local _, err = job:wait { timeout = 10 }
    assert.equals("decode", err.kind)
    assert.same({ "intent", "submitted", "error" }, events_of(path, "garbled"))
    local state = c:resume()
    assert.same({ "garbled" }, keys_of(state.pending))
    assert.equals("decode", lines_of(path)[4].error.kind)
    assert(state.pending[1]:wait { timeout = 10 })
    assert.same({}, c:resume().pending)
  end)

  it("syncs at most three times per job", function()
    local c = client()
    local before = journal_module.syncs
    local jobs = 20
    local coroutines = {}
    for i = 1, jobs do
      coroutines[i] = coroutine.create(function()
        return c:generate { prompt = "sync " .. i, timeout = 20 }
      end)
    end
    for _, outcome in ipairs(helper.drive(c, coroutines)) do assert(outcome[1]) end
    -- Intent, id and outcome per job.
    assert.equals(3 * jobs, journal_module.syncs - before)
  end)

  it("takes one client at a time", function()
    client()
    local dalle = require "dalle"
    local second, err = dalle.new { api_key = "test-key", base_url = mock.url, journal = path }
    assert.is_nil(second)
    assert.equals("invalid", err.kind)
    assert.equals("journal", err.field)
    assert.matches("locked", err.message)
    clients[1]:close()
    assert(client())
  end)

  it("refuses a key that names a job still pending or done, and keys without a journal", function()
    local c = client()
    local job = assert(c:submit { prompt = "once", key = "once" })
    local _, err = c:submit { prompt = "once", key = "once" }
    assert.equals("invalid", err.kind)
    assert.equals("key", err.field)
    assert.matches(job.id, err.message, 1, true)
    _, err = c:submit { prompt = "x", key = 7 }
    assert.equals("key", err.field)
    _, err = c:submit { prompt = "x", key = "bad\nkey" }
    assert.matches("control characters", err.message)
    local plain = mock:client()
    clients[#clients + 1] = plain
    _, err = plain:submit { prompt = "x", key = "k" }
    assert.equals("key", err.field)
    local none
    none, err = plain:resume()
    assert.is_nil(none)
    assert.equals("journal", err.field)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  describe("after a crash", function()
    it("tolerates and reports a torn last line, appending after it", function()
      local c = client()
      assert(c:generate { prompt = "before", key = "before", timeout = 10 })
      c:close()
      local torn_line = #lines_of(path) + 1
      append(path, '{"event":"intent","key":"half","time":"2026-')
      local before = helper.read_file(path)
      local again = client()
      local state = again:resume()
      assert.same({ torn_line }, state.torn)
      assert.same({ "before" }, keys_of(state.finished))
      assert(again:generate { prompt = "after", key = "after", timeout = 10 })
      again:close()
      -- Nothing was rewritten: the old bytes are still the file's start.
      local text = helper.read_file(path)
      assert.equals(before, text:sub(1, #before))
      local view = assert(journal_module.read(path))
      assert.same({ torn_line }, view.torn)
      assert.same({ "after", "before" }, keys_of(view.finished))
    end)

    it("completes a header a crash cut short", function()
      local f = assert(io.open(path, "wb"))
      f:write(journal_module.HEADER:sub(1, 9))
      f:close()
      local c = client()
      assert(c:generate { prompt = "fresh", timeout = 10 })
      c:close()
      assert.same({ journal = "lua-dalle", version = 1 }, lines_of(path)[1])
      assert.same({}, assert(journal_module.read(path)).torn)
    end)

    it("names damage anywhere else and writes nothing", function()
      local c = client()
      assert(c:generate { prompt = "one", key = "one", timeout = 10 })
      assert(c:generate { prompt = "two", key = "two", timeout = 10 })
      c:close()
      local text = helper.read_file(path)
      local damaged = text:gsub('"event":"submitted","key":"two"', '"event":"submitted","key":"two"#', 1)
      local f = assert(io.open(path, "wb"))
      f:write(damaged)
      f:close()
      local dalle = require "dalle"
      local none, err = dalle.new { api_key = "test-key", base_url = mock.url, journal = path }
      assert.is_nil(none)
      assert.equals("journal", err.field)
      assert.matches("line 6 is damaged", err.message)
      assert.equals(damaged, helper.read_file(path))
      local _, problem = journal_module.read(path)
      assert.matches("line 6", problem)
    end)

    it("refuses a file that is not a journal and leaves it as it was", function()
      local f = assert(io.open(path, "wb"))
      f:write("a red fox\na blue bird")
      f:close()
      local dalle = require "dalle"
      local none, err = dalle.new { api_key = "test-key", base_url = mock.url, journal = path }
      assert.is_nil(none)
      assert.matches("not a lua%-dalle journal", err.message)
      assert.equals("a red fox\na blue bird", helper.read_file(path))
    end)
  end)
end)
