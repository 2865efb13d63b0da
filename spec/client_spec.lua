-- dalle.new and the client's own rules: configuration checks, argument
-- types, the secret key, and a client's lifetime.
local dalle = require "dalle"

local BASE = "http://127.0.0.1:9"

local function refuses(config, field, pattern)
  local client, err = dalle.new(config)
  assert.is_nil(client)
  assert.equals("invalid", err.kind)
  assert.equals(field, err.field)
  assert.matches(pattern, err.message, 1, true)
end

describe("dalle.new", function()
  it("refuses unknown config options by name", function()
    refuses({ api_key = "k", base_url = BASE, timout = 5 }, "timout", "unknown config option 'timout'")
  end)

  it("refuses config values of the wrong type or range", function()
    refuses({ api_key = "k", timeout = "5" }, "timeout", "config 'timeout' must be a number (got string)")
    refuses({ api_key = "k", timeout = 0 }, "timeout", "must be a positive number")
    refuses({ api_key = "k", max_retries = 1.5 }, "max_retries", "whole number")
    refuses({ api_key = "k", poll_interval = -1 }, "poll_interval", ">= 0")
    refuses({ api_key = "k", poll_interval = 5, max_poll_interval = 1 }, "max_poll_interval",
      "must not be below")
    refuses({ api_key = "k", base_url = "ftp://x" }, "base_url", "absolute http:// or https:// URL")
    refuses({ api_key = "k", callback = "/cb" }, "callback", "absolute http:// or https:// URL")
    refuses({ api_key = "k\nx" }, "api_key", "control characters")
  end)

  it("refuses a user_agent with a line break, which started a header of its own", function()
    refuses({ api_key = "k", user_agent = "app/1.0\r\nx-api-key: other" }, "user_agent",
      "control characters")
  end)

  it("requires an API key from the config or AIRIGHT_API_KEY", function()
    if os.getenv("AIRIGHT_API_KEY") then return pending("AIRIGHT_API_KEY is set here") end
    refuses({ base_url = BASE }, "api_key", "AIRIGHT_API_KEY")
  end)

  it("raises when the config is not a table", function()
    assert.has_error(function() dalle.new("key") end,
      "bad argument #1 to 'new' (table expected, got string)")
  end)

  it("defaults to the aiRight service URL", function()
    if os.getenv("AIRIGHT_BASE_URL") then return pending("AIRIGHT_BASE_URL is set here") end
    local client = assert(dalle.new { api_key = "k" })
    assert.equals("https://developers.airight.io/nft-market-backend-service", client.base_url)
    client:close()
  end)

  it("drops a trailing slash from base_url", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE .. "/api/" })
    assert.equals(BASE .. "/api", client.base_url)
    client:close()
  end)
end)

describe("a client", function()
  local SECRET = "sk-very-secret-4242"

  it("never shows its API key in tostring or its fields", function()
    local client = assert(dalle.new { api_key = SECRET, base_url = BASE })
    assert.is_nil(tostring(client):find(SECRET, 1, true))
    local function scan(t, seen)
      seen = seen or {}
      if seen[t] then return end
      seen[t] = true
      for k, v in pairs(t) do
        assert.is_false(tostring(k):find(SECRET, 1, true) ~= nil)
        if type(v) == "string" then assert.is_nil(v:find(SECRET, 1, true)) end
        if type(v) == "table" then scan(v, seen) end
      end
    end
    scan(client)
    client:close()
  end)

  it("raises on arguments of the wrong type", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE })
    assert.has_error(function() client:submit("a cat") end,
      "bad argument #1 to 'submit' (table expected, got string)")
    assert.has_error(function() client:generate(nil) end)
    assert.has_error(function() client:step("1") end)
    assert.has_error(function() client:job(nil) end)
    assert.has_error(function() client:job({}) end)
    assert.has_error(function() client:download(42, "x.png") end)
    assert.has_error(function() client:download("http://h/x.png", nil) end)
    assert.has_error(function() client:job("abc"):wait(5) end)
    client:close()
  end)

  it("returns an invalid error before any network for bad submit options", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE })
    local job, err = client:submit { prompt = "x", callback = "http://h/cb", size = "9x9" }
    assert.is_nil(job)
    assert.equals("invalid", err.kind)
    assert.equals("size", err.field)
    client:close()
  end)

  it("turns a numeric job id into a string", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE })
    assert.equals("1017", client:job(1017).id)
    assert.equals("abc", client:job("abc").id)
    client:close()
  end)

  it("can be closed twice, and refuses use after close with a clear message", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE })
    local job = client:job("abc")
    client:close()
    client:close()
    assert.matches("closed", tostring(client))
    assert.has_error(function() client:submit { prompt = "x" } end, "attempt to use a closed dalle client")
    assert.has_error(function() client:step(0) end, "attempt to use a closed dalle client")
    assert.has_error(function() job:poll() end, "attempt to use a job of a closed dalle client")
  end)

  it("is collected without being closed", function()
    for _ = 1, 20 do assert(dalle.new { api_key = "k", base_url = BASE }):job("x") end
    collectgarbage()
    collectgarbage()
  end)

  it("step(0) returns at once with nothing to do", function()
    local client = assert(dalle.new { api_key = "k", base_url = BASE })
    assert.equals(0, client:step(0))
    assert.equals(0, client:step())
    client:close()
  end)
end)

describe("max_transfers", function()
  it("is checked", function()
    local c, err = dalle.new { api_key = "k", base_url = BASE, max_transfers = 0 }
    assert.is_nil(c)
    assert.equals("max_transfers", err.field)
  end)
end)

describe("dalle.core", function()
  it("raises on a number among form fields or service headers, whose string form was freed while C held it", function()
    local core = require "dalle.core"
    local handle = assert(core.new {})
    assert.has_error(function()
      handle:request({ url = "http://127.0.0.1:9/", fields = { "modelId", 70 } }, 1)
    end)
    local ok, problem = pcall(handle.request, handle, { url = "http://127.0.0.1:9/", fields = { 1, "x" } }, 1)
    assert.is_false(ok)
    assert.matches("form fields must be strings", problem, 1, true)
    handle:close()
    ok, problem = pcall(core.new, { service_headers = { "accept: application/json", 42 } })
    assert.is_false(ok)
    assert.matches("service_headers must be strings", problem, 1, true)
  end)
end)

describe("the loop config", function()

  it("refuses a word other than auto and none, naming them", function()
    local client, err = dalle.new { api_key = "k", base_url = BASE, loop = "nginx" }
    assert.is_nil(client)
    assert.equals("loop", err.field)
    assert.matches('"auto", "none" or an adapter table', err.message)
  end)

  it("refuses a value that is neither a word nor a table", function()
    local _, err = dalle.new { api_key = "k", base_url = BASE, loop = 5 }
    assert.equals("loop", err.field)
  end)

  it("takes an adapter table as client:use does, and checks it the same way", function()
    local stopped = 0
    local adapter = {
      waiter = function() return nil end,
      suspend = function() end,
      wake = function() end,
      stop = function() stopped = stopped + 1 end,
    }
    local client = assert(dalle.new { api_key = "k", base_url = BASE, loop = adapter })
    assert.has_error(function() client:use(adapter) end, "this client already runs in an event loop")
    client:close()
    assert.equals(1, stopped)
    assert.has_error(function()
      dalle.new { api_key = "k", base_url = BASE, loop = { waiter = function() end } }
    end, "bad argument #1 to 'use' (the adapter has no function 'suspend')")
  end)
end)
