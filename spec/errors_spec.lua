-- Each error kind, produced by a real dalle-mock fault switch, and the
-- retry policy: what is retried, what is never sent twice.
local helper = require "helper"
local dalle = require "dalle"

describe("errors", function()
  local mock, client

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client { max_retries = 2 }
  end)
  after_each(function() client:close() end)

  local function submit_fails(kind)
    local job, err = client:submit { prompt = "x" }
    assert.is_nil(job)
    assert.equals(kind, err.kind, tostring(err))
    return err
  end

  it("auth: a refused key (401), never retried", function()
    client:close()
    client = mock:client { api_key = "wrong-key" }
    local err = submit_fails("auth")
    assert.equals(401, err.status)
    assert.equals("invalid or missing api key", err.message)
    assert.is_false(err.retryable)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  it("auth: 403", function()
    mock:fault { status = 403, on = "submit", message = "forbidden" }
    assert.equals(403, submit_fails("auth").status)
  end)

  it("rate_limited: 429 on submit is retried, then reported with Retry-After", function()
    mock:fault { status = 429, retry_after = 0, count = 5, on = "submit" }
    local err = submit_fails("rate_limited")
    assert.equals(429, err.status)
    assert.equals(0, err.retry_after)
    assert.is_true(err.retryable)
    assert.equals(3, #mock:requests_to("submit"))
  end)

  it("a 503 answered before anything was done is retried and submits once", function()
    mock:fault { status = 503, on = "submit" }
    local job = assert(client:submit { prompt = "x" })
    assert.is_string(job.id)
    assert.equals(2, #mock:requests_to("submit"))
  end)

  it("http: a 500 on submit is not retried (it may have been charged)", function()
    mock:fault { status = 500, on = "submit", message = "boom" }
    local err = submit_fails("http")
    assert.equals(500, err.status)
    assert.equals("boom", err.message)
    assert.is_true(err.retryable)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  it("http: keeps the service's own message for a 400", function()
    mock:fault { status = 400, on = "submit", message = "prompt rejected by moderation" }
    local err = submit_fails("http")
    assert.equals("prompt rejected by moderation", err.message)
    assert.is_false(err.retryable)
  end)

  it("http: 5xx on polls are retried and the job still completes", function()
    local job = assert(client:submit { prompt = "x" })
    mock:fault { status = 502, count = 2, on = "poll" }
    assert(job:wait { timeout = 10 })
  end)

  it("http: a 404 poll is reported, not retried", function()
    local _, err = client:job("nosuchjob"):poll()
    assert.equals("http", err.kind)
    assert.equals(404, err.status)
    assert.equals(1, #mock:requests_to("poll"))
  end)

  it("network: a dropped submit is not resent and says it may have been submitted", function()
    mock:fault { drop = 1, on = "submit" }
    local err = submit_fails("network")
    assert.is_true(err.maybe_submitted)
    assert.equals(1, #mock:requests_to("submit"))
    assert.matches("the job may have been submitted", tostring(err))
  end)

  it("network: a dropped poll is retried", function()
    local job = assert(client:submit { prompt = "x" })
    mock:fault { drop = 1, on = "poll" }
    assert(job:wait { timeout = 10 })
  end)

  it("network: nothing listening is retried, then reported as retryable", function()
    local base = "http://127.0.0.1:" .. helper.closed_port()
    local c = assert(dalle.new { api_key = "k", base_url = base, max_retries = 1 })
    local job, err = c:submit { prompt = "x", callback = base .. "/cb" }
    assert.is_nil(job)
    assert.equals("network", err.kind)
    assert.is_true(err.retryable)
    assert.is_nil(err.maybe_submitted)
    assert.equals(2, err.attempts)
    c:close()
  end)

  it("timeout: a stalled submit ends at the request timeout, maybe submitted", function()
    client:close()
    client = mock:client { timeout = 0.5 }
    mock:fault { stall = 1, stall_ms = 5000, on = "submit" }
    local err = submit_fails("timeout")
    assert.is_true(err.maybe_submitted)
    assert.equals(1, #mock:requests_to("submit"))
  end)

  it("timeout: generate's deadline holds while the service stalls", function()
    mock:fault { stall = 1, stall_ms = 5000, on = "poll", count = 10 }
    local start = require("dalle.core").now()
    local result, err = client:generate { prompt = "x", timeout = 1 }
    assert.is_nil(result)
    assert.equals("timeout", err.kind)
    assert.is_true(require("dalle.core").now() - start < 1.5)
  end)

  it("decode: malformed JSON", function()
    mock:fault { malformed = 1, on = "submit" }
    local err = submit_fails("decode")
    assert.matches("not JSON", err.message)
  end)

  it("decode: an HTML page instead of JSON", function()
    mock:fault { wrong_type = 1, on = "submit" }
    submit_fails("decode")
  end)

  it("decode: a body over max_body", function()
    client:close()
    client = mock:client { max_body = 4096 }
    mock:fault { oversize = 100000, on = "submit" }
    local err = submit_fails("decode")
    assert.matches("larger than max_body", err.message)
  end)

  it("never shows the API key, even when the service echoes it", function()
    mock:fault { status = 400, on = "submit", message = "bad key test-key here" }
    local err = submit_fails("http")
    assert.is_nil(tostring(err):find("test-key", 1, true))
    assert.matches("[redacted]", err.message, 1, true)
  end)

  it("gives every error one line of text with its kind", function()
    mock:fault { status = 429, retry_after = 0, count = 5, on = "submit" }
    local text = tostring(submit_fails("rate_limited"))
    assert.matches("^dalle rate_limited: ", text)
    assert.matches("(HTTP 429)", text, 1, true)
    assert.is_nil(text:find("\n"))
  end)
end)
