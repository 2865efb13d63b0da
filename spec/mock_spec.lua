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
