-- Every dalle-mock fault switch against every network call (submit, poll,
-- download): each ends in the expected error kind or a successful retry,
-- and never later than its deadline. The matrix is printed as a table.
local helper = require "helper"
local core = require "dalle.core"

local DEADLINE = 4          -- seconds each call is given
-- How late a call may return: 100 ms, more under ASan or valgrind.
local LATE = os.getenv("DALLE_INSTRUMENTED") and 1.0 or 0.1

local FAULTS = {
  { "HTTP 500", { status = 500 } },
  { "HTTP 503", { status = 503 } },
  { "429 + Retry-After", { status = 429, retry_after = 1 } },
  { "HTTP 400", { status = 400 } },
  { "HTTP 401", { status = 401 } },
  { "stall", { stall = 1, stall_ms = 2000 } },
  { "trickle", { trickle = 1, trickle_ms = 300 } },
  { "drop", { drop = 1 } },
  { "malformed JSON", { malformed = 1 } },
  { "oversize body", { oversize = 2000000 } },
  { "wrong content type", { wrong_type = 1 } },
  { "delay 300 ms", { delay_ms = 300 } },
}

-- What each call must end in: "ok", or the error kind.
local EXPECTED = {
  submit = {
    ["HTTP 500"] = "http", ["HTTP 503"] = "ok", ["429 + Retry-After"] = "ok",
    ["HTTP 400"] = "http", ["HTTP 401"] = "auth", stall = "timeout", trickle = "timeout",
    drop = "network", ["malformed JSON"] = "decode", ["oversize body"] = "decode",
    ["wrong content type"] = "decode", ["delay 300 ms"] = "ok",
  },
  poll = {
    ["HTTP 500"] = "ok", ["HTTP 503"] = "ok", ["429 + Retry-After"] = "ok",
    ["HTTP 400"] = "http", ["HTTP 401"] = "auth", stall = "ok", trickle = "ok", drop = "ok",
    ["malformed JSON"] = "decode", ["oversize body"] = "decode",
    ["wrong content type"] = "decode", ["delay 300 ms"] = "ok",
  },
  -- A download may take its whole deadline (images are large), so a trickle
  -- that never stalls outright runs into the deadline.
  download = {
    ["HTTP 500"] = "ok", ["HTTP 503"] = "ok", ["429 + Retry-After"] = "ok",
    ["HTTP 400"] = "http", ["HTTP 401"] = "auth", stall = "ok", trickle = "timeout", drop = "ok",
    ["malformed JSON"] = "decode", ["oversize body"] = "decode",
    ["wrong content type"] = "decode", ["delay 300 ms"] = "ok",
  },
}

-- Submits that may have reached the service say so: all but those the
-- service refused before doing anything (400, 401, and 503 or 429 when
-- their retry also failed).
local MAYBE_SUBMITTED = {
  ["HTTP 500"] = true, stall = true, trickle = true, drop = true, ["malformed JSON"] = true,
  ["oversize body"] = true, ["wrong content type"] = true,
}

describe("fault matrix", function()
  local mock, client, dir
  local rows = {}

  setup(function()
    mock = helper.start_mock()
    dir = helper.tmpdir()
  end)
  teardown(function()
    mock:stop()
    helper.rmdir(dir)
    local lines = { "# | fault | submit | poll | download |", "# |---|---|---|---|" }
    for _, fault in ipairs(FAULTS) do
      local r = rows[fault[1]] or {}
      lines[#lines + 1] = string.format("# | %s | %s | %s | %s |", fault[1], r.submit or "?",
        r.poll or "?", r.download or "?")
    end
    io.stdout:write(table.concat(lines, "\n"), "\n")
  end)
  before_each(function()
    mock:reset()
    -- A poll reply may be max_body plus an inline image: both kept small
    -- enough here that the oversize body passes them.
    client = mock:client { timeout = 1, max_retries = 3, max_body = 65536,
      max_image_bytes = 1024 * 1024 }
  end)
  after_each(function() client:close() end)

  local calls = {
    submit = function()
      return client:submit { prompt = "x", timeout = DEADLINE }
    end,
    poll = function()
      local job = assert(client:submit { prompt = "x" })
      return function() return job:wait { timeout = DEADLINE } end
    end,
    download = function()
      local result = assert(client:generate { prompt = "x", timeout = 10 })
      return function() return client:download(result, dir .. "/image.png", { timeout = DEADLINE }) end
    end,
  }

  for _, call in ipairs { "submit", "poll", "download" } do
    for _, fault in ipairs(FAULTS) do
      local name, spec = fault[1], fault[2]
      local want = EXPECTED[call][name]
      it(call .. " × " .. name .. " → " .. want, function()
        local run = calls[call]
        if call ~= "submit" then run = run() end
        local queued = { on = call == "download" and "image" or call }
        for k, v in pairs(spec) do queued[k] = v end
        mock:fault(queued)
        local start = core.now()
        local value, err = run()
        local took = core.now() - start
        local got = value and "ok" or err.kind
        rows[name] = rows[name] or {}
        rows[name][call] = string.format("%s (%.1f s)", got, took)
        assert.equals(want, got, err and tostring(err))
        assert.is_true(took <= DEADLINE + LATE, "returned " .. took .. " s after the call")
        if call == "submit" and err then
          assert.equals(MAYBE_SUBMITTED[name] or nil, err.maybe_submitted)
        end
      end)
    end
  end
end)
