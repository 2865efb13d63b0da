-- What dalle-mock receives for each submit: the multipart fields and the
-- headers, for both models, and what submit returns.
local dalle = require "dalle"
local helper = require "helper"

describe("submit", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  local function sent()
    local submits = mock:requests_to("submit")
    assert.equals(1, #submits)
    return submits[1]
  end

  it("sends a dall-e-2 request with its fields and no quality or style", function()
    local job = assert(client:submit { prompt = "a red fox in snow", size = "512x512" })
    assert.is_string(job.id)
    local r = sent()
    assert.equals("POST", r.method)
    assert.same({
      callback = mock.url .. "/_mock/callback",
      modelId = "70",
      prompt = "a red fox in snow",
      model = "dall-e-2",
      size = "512x512",
    }, r.fields)
  end)

  it("sends a dall-e-3 request with quality and style, defaults filled", function()
    assert(client:submit { prompt = "a fox", model = "dall-e-3", size = "1792x1024" })
    local f = sent().fields
    assert.equals("dall-e-3", f.model)
    assert.equals("1792x1024", f.size)
    assert.equals("standard", f.quality)
    assert.equals("vivid", f.style)
    assert(client:submit { prompt = "a fox", model = "dall-e-3", quality = "hd", style = "natural" })
    local last = mock:requests_to("submit")[2].fields
    assert.equals("hd", last.quality)
    assert.equals("natural", last.style)
  end)

  it("sends the key, accept and multipart headers, and no Expect: 100-continue", function()
    assert(client:submit { prompt = ("long prompt "):rep(300), model = "dall-e-3" })
    local h = sent().headers
    assert.equals("test-key", h["x-api-key"])
    assert.equals("application/json", h["accept"])
    assert.matches("^multipart/form%-data; boundary=", h["content-type"])
    assert.equals(dalle.DEFAULT_USER_AGENT, h["user-agent"])
    assert.matches("^lua%-dalle/[%d.]+ libcurl/[%d.]+$", dalle.DEFAULT_USER_AGENT)
    assert.is_nil(h["expect"])
  end)

  it("sends the same key, accept and user agent with every poll, and no Expect:", function()
    assert(client:generate { prompt = "polled", timeout = 10 })
    local polls = mock:requests_to("poll")
    assert.is_true(#polls >= 2)
    for _, poll in ipairs(polls) do
      assert.equals("test-key", poll.headers["x-api-key"])
      assert.equals("application/json", poll.headers["accept"])
      assert.equals(dalle.DEFAULT_USER_AGENT, poll.headers["user-agent"])
      assert.is_nil(poll.headers["expect"])
    end
  end)

  it("asks for no compression: replies are small JSON, images PNG", function()
    assert(client:submit { prompt = "x" })
    assert.is_nil(sent().headers["accept-encoding"])
    assert(client:generate { prompt = "y", timeout = 10 })
    assert.is_nil(mock:requests_to("poll")[1].headers["accept-encoding"])
  end)

  it("sends the user_agent of the config", function()
    client:close()
    client = mock:client { user_agent = "my-game/2.0" }
    assert(client:submit { prompt = "x" })
    assert.equals("my-game/2.0", sent().headers["user-agent"])
  end)

  it("sends no user agent when user_agent is empty", function()
    client:close()
    client = mock:client { user_agent = "" }
    assert(client:submit { prompt = "x" })
    assert.is_nil(sent().headers["user-agent"])
  end)

  it("sends a per-call callback over the client's", function()
    assert(client:submit { prompt = "x", callback = "https://example.com/hook?job=1" })
    assert.equals("https://example.com/hook?job=1", sent().fields.callback)
  end)

  it("delivers a 4000-character non-ASCII prompt byte for byte", function()
    local prompt = ("ñ😀"):rep(2000)
    assert(client:submit { prompt = prompt, model = "dall-e-3" })
    assert.equals(prompt, sent().fields.prompt)
  end)

  it("sends nothing when validation fails", function()
    local job, err = client:submit { prompt = "x", model = "dall-e-2", style = "vivid" }
    assert.is_nil(job)
    assert.equals("style", err.field)
    assert.equals(0, #mock:requests())
  end)

  it("requires a callback when neither the call nor the config has one", function()
    client:close()
    client = mock:client { callback = nil }
    client:close()
    client = assert(dalle.new { api_key = "test-key", base_url = mock.url })
    local job, err = client:submit { prompt = "x" }
    assert.is_nil(job)
    assert.equals("callback", err.field)
    assert.equals(0, #mock:requests())
  end)
end)
