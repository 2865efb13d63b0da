-- Record mode: one JSON line per exchange with the service, so a user with
-- a key can see what aiRight really sends. The key never reaches the file,
-- not even echoed in a body; the file is private (0600); a record that
-- cannot be written never fails a call.
local helper = require "helper"
local dalle = require "dalle"

local lines_of = helper.json_lines

local function of_call(lines, call)
  local out = {}
  for _, line in ipairs(lines) do
    if line.call == call then out[#out + 1] = line end
  end
  return out
end

describe("record mode", function()
  local mock, dir, path
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
    path = dir .. "/session.jsonl"
    os.remove(path)
  end)

  it("writes a line per submit and poll, with what the service said", function()
    local client = mock:client { record = path }
    local result = assert(client:generate { prompt = "a red kite", model = "dall-e-3",
      quality = "hd", timeout = 10 })
    client:close()
    local lines = lines_of(path)
    local submits, polls = of_call(lines, "submit"), of_call(lines, "poll")
    assert.equals(1, #submits)
    assert.is_true(#polls >= 1)
    assert.equals(#lines, #submits + #polls)
    local submit = submits[1]
    assert.equals("POST", submit.method)
    assert.equals("/sdk/models/dall-e", submit.path)
    assert.equals(200, submit.status)
    assert.matches("^application/json", submit.content_type)
    assert.equals(result.id, submit.job)
    assert.equals(1, submit.attempt)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", submit.time)
    assert.same({ modelId = "70", model = "dall-e-3", size = "1024x1024", quality = "hd",
      style = "vivid", prompt_chars = 10, callback_origin = mock.url }, submit.form)
    assert.is_table(submit.body)
    local last = polls[#polls]
    assert.equals("GET", last.method)
    assert.equals("/sdk/art/" .. result.id, last.path)
    assert.equals(result.id, last.job)
    assert.same(result.raw, last.body)
    assert.same({ result.url }, last.images)
    -- Nothing of the prompt without record_prompts.
    assert.is_nil(helper.read_file(path):find("red kite", 1, true))
  end)

  it("keeps the prompt with record_prompts", function()
    local client = mock:client { record = path, record_prompts = true }
    assert(client:generate { prompt = "a red kite", timeout = 10 })
    client:close()
    assert.equals("a red kite", of_call(lines_of(path), "submit")[1].form.prompt)
  end)

  it("creates the file with mode 0600 and appends to it", function()
    local client = mock:client { record = path }
    assert(client:generate { prompt = "x", timeout = 10 })
    client:close()
    local first = #lines_of(path)
    assert.equals("600", helper.capture("stat -c %a " .. path):match("%d+"))
    client = mock:client { record = path }
    assert(client:generate { prompt = "y", timeout = 10 })
    client:close()
    assert.is_true(#lines_of(path) > first)
  end)

  it("never holds the API key, even when the service echoes it in a body", function()
    -- A key with a '/' is written "\/" in JSON: it must not slip past either.
    local key = "sec/ret+key-42"
    mock:config { api_key = key }
    local client = mock:client { api_key = key, record = path, max_retries = 1 }
    mock:fault { status = 400, on = "submit", message = "the key " .. key .. " is wrong" }
    assert.is_nil(client:submit { prompt = "x" })
    mock:fault { status = 500, on = "poll", message = "echo: " .. key }
    assert(client:generate { prompt = "x with " .. key, timeout = 10 })
    client:close()
    mock:config { api_key = "test-key" }
    local text = helper.read_file(path)
    assert.is_nil(text:find("sec/ret", 1, true))
    assert.is_nil(text:find("sec\\/ret", 1, true))
    assert.is_nil(text:find("ret+key", 1, true))
    assert.matches("[redacted]", text, 1, true)
    local submit = of_call(lines_of(path), "submit")[1]
    assert.equals(400, submit.status)
    assert.equals("the key [redacted] is wrong", submit.body.message)
  end)

  it("keeps the Retry-After text and a body that is not JSON", function()
    local client = mock:client { record = path, max_retries = 2 }
    local job = assert(client:submit { prompt = "x" })
    mock:fault { status = 429, retry_after = 1, on = "poll" }
    assert(job:wait { timeout = 10 })
    mock:fault { wrong_type = 1, on = "poll" }
    local other = assert(client:submit { prompt = "y" })
    assert.is_nil(other:wait { timeout = 10 })
    client:close()
    local polls = of_call(lines_of(path), "poll")
    local limited, page
    for _, line in ipairs(polls) do
      if line.status == 429 then limited = line end
      if line.body_text then page = line end
    end
    assert.equals("1", limited.retry_after)
    assert.matches("<html", page.body_text)
    assert.matches("^text/html", page.content_type)
  end)

  it("records a request that got no reply, with why", function()
    local client = mock:client { record = path, max_retries = 0 }
    mock:fault { stall = 1, stall_ms = 2000, on = "submit" }
    assert.is_nil(client:submit { prompt = "x", timeout = 0.3 })
    client:close()
    local line = of_call(lines_of(path), "submit")[1]
    assert.is_nil(line.status)
    -- Our deadline, or libcurl's timeout set to the same moment, ends it.
    assert.truthy(line.failure == "deadline" or line.failure == "timeout", line.failure)
    assert.is_string(line.error)
  end)

  it("refuses a record file it cannot open, naming it", function()
    local client, err = dalle.new { api_key = "k", base_url = mock.url, record = dir .. "/no/such/x" }
    assert.is_nil(client)
    assert.equals("invalid", err.kind)
    assert.equals("record", err.field)
    assert.matches("cannot open the record file", err.message)
  end)

  it("is switched on by DALLE_RECORD, and a failing record never fails the call", function()
    local script = dir .. "/record.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local dalle = require "dalle"
      local client = assert(dalle.new { api_key = "test-key", base_url = %q,
        callback = %q, poll_interval = 0.05 })
      for _ = 1, 2 do assert(client:generate { prompt = "x", timeout = 10 }) end
      print("generated")
    ]]):format(mock.url, mock.url .. "/cb"))
    f:close()
    local out = helper.run_lua(script, "DALLE_RECORD=" .. path)
    assert.matches("generated", out)
    assert.is_true(#of_call(lines_of(path), "submit") == 2)
    -- /dev/full opens, and every write to it fails.
    out = helper.run_lua(script, "DALLE_RECORD=/dev/full")
    assert.matches("generated", out)
    local _, told = out:gsub("cannot write the record file", "")
    assert.equals(1, told)
  end)
end)
