-- dalle.parse_callback on the bodies dalle-mock really POSTs to a callback
-- URL, for every response shape, and on bodies it must refuse.
local helper = require "helper"
local dalle = require "dalle"

local SHAPES = { "plain", "numeric", "data", "nested", "bare", "nostatus", "openai", "b64" }

-- Waits (bounded) until the mock has received `n` callbacks.
local function callbacks(mock, n)
  for _ = 1, 100 do
    local got = mock:callbacks()
    if #got >= n then return got end
    helper.sleep(0.05)
  end
  error("the mock received no callback")
end

describe("parse_callback", function()
  local mock, client

  setup(function() mock = helper.start_mock { "--polls", "0" } end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  for _, shape in ipairs(SHAPES) do
    it("reads the '" .. shape .. "' callback body the service POSTs", function()
      mock:config { shape = shape, polls = 0 }
      local job = assert(client:submit { prompt = "a tree" })
      local got = callbacks(mock, 1)
      assert.matches("application/json", got[1].content_type, 1, true)
      local result = assert(dalle.parse_callback(got[1].body))
      assert.equals(job.id, result.id)
      assert.equals("succeeded", result.status)
      if shape == "b64" then
        assert.matches("^data:image/png;base64,iVBORw0KGgo", result.url)
      else
        assert.equals(mock.url .. "/images/" .. job.id .. ".png", result.url)
      end
      assert.same({ result.url }, result.images)
      assert.is_table(result.raw)
    end)
  end

  it("reports a failed job's callback as a failed error with the reason", function()
    mock:config { polls = 0 }
    assert(client:submit { prompt = "[fail] a tree" })
    local got = callbacks(mock, 1)
    local result, err = dalle.parse_callback(got[1].body)
    assert.is_nil(result)
    assert.equals("failed", err.kind)
    assert.equals("the mock was asked to fail this job", err.reason)
  end)

  it("refuses a body that is not JSON", function()
    local result, err = dalle.parse_callback('{"id": "abc", "status":')
    assert.is_nil(result)
    assert.equals("decode", err.kind)
  end)

  it("refuses a body that reports no finished job", function()
    local _, err = dalle.parse_callback('{"id":"abc","status":"processing"}')
    assert.equals("decode", err.kind)
    assert.matches("processing", err.message)
    _, err = dalle.parse_callback('"abc"')
    assert.equals("decode", err.kind)
    _, err = dalle.parse_callback('')
    assert.equals("decode", err.kind)
  end)

  it("reads every documented way of giving image URLs", function()
    local bodies = {
      ['{"id":"a","url":"http://h/1.png"}'] = { "http://h/1.png" },
      ['{"id":"a","imageUrl":"http://h/1.png"}'] = { "http://h/1.png" },
      ['{"id":"a","image_url":"http://h/1.png"}'] = { "http://h/1.png" },
      ['{"id":"a","image":"http://h/1.png"}'] = { "http://h/1.png" },
      ['{"id":"a","output":["http://h/1.png","http://h/2.png"]}'] = { "http://h/1.png", "http://h/2.png" },
      ['{"id":"a","outputs":[{"url":"http://h/1.png"}]}'] = { "http://h/1.png" },
      ['{"id":"a","images":[{"url":"http://h/1.png"},{"url":"http://h/2.png"}]}'] =
          { "http://h/1.png", "http://h/2.png" },
      ['{"payload":{"result":{"job_id":"a","state":"OK","images":["http://h/1.png"]}}}'] =
          { "http://h/1.png" },
    }
    for body, urls in pairs(bodies) do
      local result = assert(dalle.parse_callback(body))
      assert.same(urls, result.images)
      assert.equals("a", result.id)
    end
  end)

  it("maps every documented status word, in any case", function()
    for _, word in ipairs { "success", "Succeeded", "COMPLETED", "complete", "done", "ok", "finished" } do
      local r = assert(dalle.parse_callback('{"id":"a","status":"' .. word .. '","url":"http://h/1.png"}'))
      assert.equals("succeeded", r.status)
    end
    for _, word in ipairs { "failed", "failure", "ERROR", "canceled", "cancelled", "timeout", "rejected" } do
      local _, err = dalle.parse_callback('{"id":"a","status":"' .. word .. '","msg":"why"}')
      assert.equals("failed", err.kind)
      assert.equals("why", err.reason)
    end
    for _, word in ipairs { "queued", "pending", "created", "starting", "processing", "in_queue",
      "in_progress", "running", "process" } do
      local _, err = dalle.parse_callback('{"id":"a","status":"' .. word .. '","url":"http://h/1.png"}')
      assert.equals("decode", err.kind)
    end
  end)

  it("raises when the body is not a string", function()
    assert.has_error(function() dalle.parse_callback({}) end,
      "bad argument #1 to 'parse_callback' (string expected, got table)")
  end)
end)
