-- The poll/wait lifecycle for every response shape dalle-mock can answer
-- with, the poll schedule, and jobs picked up by id.
local helper = require "helper"
local dalle = require "dalle"

local SHAPES = { "plain", "numeric", "data", "nested", "bare", "nostatus", "mystery", "openai", "b64" }
-- The shapes in OpenAI's Images form give the prompt as the mock revised it.
local REVISES = { openai = true, b64 = true }

describe("lifecycle", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client()
  end)
  after_each(function() client:close() end)

  for _, shape in ipairs(SHAPES) do
    describe("with the '" .. shape .. "' response shape", function()
      before_each(function() mock:config { shape = shape } end)

      it("submits, polls while pending, and returns the result", function()
        local job = assert(client:submit { prompt = "a kite over hills" })
        assert.is_string(job.id)
        assert.is_true(#job.id > 0)
        assert.is_false(job:poll())
        local result = assert(job:wait { timeout = 10 })
        assert.equals("succeeded", result.status)
        assert.equals(job.id, result.id)
        local image_url = mock.url .. "/images/" .. job.id .. ".png"
        if shape == "b64" then
          -- Inline: the same PNG the mock serves at its image URL.
          assert.matches("^data:image/png;base64,", result.url)
          local dir = helper.tmpdir()
          assert(client:download(result, dir .. "/inline.png"))
          assert(client:download(image_url, dir .. "/fetched.png"))
          assert.equals(helper.read_file(dir .. "/fetched.png"), helper.read_file(dir .. "/inline.png"))
          helper.rmdir(dir)
        else
          assert.equals(image_url, result.url)
        end
        assert.same({ result.url }, result.images)
        assert.equals(REVISES[shape] and "A detailed rendering of: a kite over hills" or nil,
          result.revised_prompt)
        assert.is_not_nil(result.raw)
        assert.equals("succeeded", job.status)
        assert.equals(result, job:poll())
      end)

      it("reports a job the service failed, with its reason", function()
        local job = assert(client:submit { prompt = "[fail] a kite" })
        local result, err = job:wait { timeout = 10 }
        assert.is_nil(result)
        assert.equals("failed", err.kind)
        assert.equals("the mock was asked to fail this job", err.message)
        assert.equals(job.id, err.id)
        assert.is_false(err.retryable)
      end)
    end)
  end

  it("keeps an unknown status as service_status and goes on waiting", function()
    mock:config { shape = "mystery" }
    local job = assert(client:submit { prompt = "x" })
    assert.is_false(job:poll())
    assert.equals("warming_up", job.service_status)
    assert.equals("pending", job.status)
  end)

  it("generate submits and waits in one call", function()
    local result = assert(client:generate { prompt = "a boat", model = "dall-e-3", timeout = 10 })
    assert.matches("/images/.+%.png$", result.url)
  end)

  it("polls exactly until the job is done", function()
    mock:config { polls = 3 }
    assert(client:generate { prompt = "x", timeout = 10 })
    assert.equals(4, #mock:requests_to("poll"))
  end)

  it("picks up a job submitted by another client by its id", function()
    local job = assert(client:submit { prompt = "x" })
    local other = mock:client()
    local same = other:job(job.id)
    local result = assert(same:wait { timeout = 10 })
    assert.equals(job.id, result.id)
    other:close()
  end)

  it("sends the API key on polls", function()
    assert(client:generate { prompt = "x", timeout = 10 })
    for _, r in ipairs(mock:requests_to("poll")) do
      assert.equals("test-key", r.headers["x-api-key"])
      assert.equals("GET", r.method)
    end
  end)

  it("times out a job that does not finish, naming its last status", function()
    mock:config { polls = 1000 }
    local job = assert(client:submit { prompt = "x" })
    local result, err = job:wait { timeout = 0.5 }
    assert.is_nil(result)
    assert.equals("timeout", err.kind)
    assert.matches("did not finish before its deadline", err.message)
    assert.matches("last status: processing", err.message)
  end)

  it("waits at least as long as Retry-After says before the next poll", function()
    local job = assert(client:submit { prompt = "x" })
    mock:fault { status = 429, retry_after = 1, on = "poll" }
    local start = require("dalle.core").now()
    assert(job:wait { timeout = 10 })
    assert.is_true(require("dalle.core").now() - start >= 1)
  end)

  it("backs off from poll_interval towards max_poll_interval", function()
    client:close()
    client = mock:client { poll_interval = 0.2, max_poll_interval = 0.3 }
    mock:config { polls = 3 }
    local start = require("dalle.core").now()
    assert(client:generate { prompt = "x", timeout = 10 })
    -- first poll after 0.2 s, then 0.2, 0.3, 0.3: at least 1 s in all.
    assert.is_true(require("dalle.core").now() - start >= 1.0)
  end)

  it("wait refuses unknown options", function()
    local job = client:job("abc")
    local ok, err = job:wait { timout = 1 }
    assert.is_nil(ok)
    assert.equals("timout", err.field)
  end)

  it("rejects a submit reply that has no job id", function()
    mock:fault { malformed = 1, on = "submit" }
    local job, err = client:submit { prompt = "x" }
    assert.is_nil(job)
    assert.equals("decode", err.kind)
  end)

  it("exposes the rules table", function()
    assert.equals(2, #dalle.rules())
  end)
end)
