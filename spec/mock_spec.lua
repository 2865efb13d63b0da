-- dalle-mock itself, where a client of ours cannot reach: bodies written
-- the way other HTTP clients write them.
local helper = require "helper"

describe("dalle-mock", function()
  local mock

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("sends a Location header from a status fault's location=, and takes it with status= only", function()
    local refused = mock:fault { on = "poll", location = "http://example.invalid/", delay_ms = 1 }
    assert.equals("location", refused.field)
    assert.matches("location only goes with status=CODE", refused.message)
    local queued = mock:fault { on = "poll", status = 301, location = "http://example.invalid/x" }
    assert.equals("http://example.invalid/x", queued.queued.location)
    local head = helper.capture("curl -s -i -H 'x-api-key: test-key' " .. mock.url .. "/sdk/art/zz")
    assert.matches("^HTTP/1.1 301", head)
    assert.matches("\r\nLocation: http://example.invalid/x\r\n", head)
  end)

  it("accepts a multipart body whose parts arrive in separate writes", function()
    -- Each part's headers, then its data, in writes of their own (as
    -- aiohttp sends them); the mock used to call that a repeated field.
    local B = "XyZboundary"
    local parts = {}
    for _, field in ipairs {
      { "callback", mock.url .. "/_mock/callback" }, { "modelId", "70" }, { "prompt", "split parts" },
    } do
      parts[#parts + 1] = "--" .. B .. "\r\nContent-Disposition: form-data; name=\"" .. field[1]
        .. "\"\r\n\r\n"
      parts[#parts + 1] = field[2] .. "\r\n"
    end
    parts[#parts + 1] = "--" .. B .. "--\r\n"
    local body = table.concat(parts)
    local head = "POST /sdk/models/dall-e HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: test-key\r\n"
      .. "Content-Type: multipart/form-data; boundary=" .. B .. "\r\nContent-Length: " .. #body
      .. "\r\nConnection: close\r\n\r\n"
    local dir = helper.tmpdir()
    local pieces = { head }
    for _, piece in ipairs(parts) do pieces[#pieces + 1] = piece end
    local writes = {}
    for i, piece in ipairs(pieces) do
      local f = assert(io.open(dir .. "/" .. i, "wb"))
      f:write(piece)
      f:close()
      writes[i] = "cat " .. dir .. "/" .. i .. " >&3; sleep 0.05"
    end
    local reply = helper.capture("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. mock.port .. "; "
      .. table.concat(writes, "; ") .. "; timeout 5 cat <&3'")
    helper.rmdir(dir)
    assert.matches("^HTTP/1.1 200", reply)
    local jobs = mock:jobs()
    assert.equals(1, #jobs)
    assert.equals("split parts", jobs[1].prompt)
  end)
end)

describe("dalle-mock --single-thread", function()
  local mock

  setup(function() mock = helper.start_mock { "--single-thread", "--polls", "1" } end)
  teardown(function() mock:stop() end)

  it("serves 200 transfers in flight at once from its one thread", function()
    local client = mock:client { max_transfers = 200, poll_interval = 0, max_poll_interval = 0.01 }
    local workers = {}
    for i = 1, 200 do
      workers[i] = coroutine.create(function()
        return client:generate { prompt = "one thread " .. i, timeout = 30 }
      end)
    end
    local outcomes = helper.drive(client, workers)
    client:close()
    for i = 1, 200 do
      assert(outcomes[i][1], "job " .. i .. ": " .. tostring(outcomes[i][2]))
      assert.equals("succeeded", outcomes[i][1].status)
    end
  end)

  it("refuses faults that sleep and chaos, saying why; other faults still queue", function()
    for action, spec in pairs {
      delay_ms = { on = "poll", delay_ms = 5 }, stall = { on = "submit", stall = 1 },
      trickle = { on = "image", trickle = 1 },
    } do
      local refused = mock:fault(spec)
      assert.is_nil(refused.queued)
      assert.equals(action, refused.field)
      assert.matches("runs %-%-single%-thread", refused.message)
      assert.matches("(delay_ms, stall, trickle)", refused.message, 1, true)
    end
    local chaos = mock:config { chaos = 5 }
    assert.equals("chaos", chaos.field)
    assert.matches("runs %-%-single%-thread", chaos.message)
    assert.equals(0, mock:config({ polls = 1 }).chaos)
    local queued = mock:fault { on = "poll", status = 503 }
    assert.equals(503, queued.queued.status)
    mock:reset()
  end)

  it("will not start with a --fault that sleeps or with --chaos", function()
    for _, args in ipairs { "--fault on=poll,stall=1", "--chaos 5" } do
      local out = helper.capture(helper.MOCK .. " --single-thread " .. args .. " 2>&1; echo exit=$?")
      assert.matches("exit=2", out)
      assert.matches("runs %-%-single%-thread", out)
    end
  end)
end)
