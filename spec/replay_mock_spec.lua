-- dalle-mock --replay: recordings of the real service played back over
-- loopback, read with curl and with the client, and the files it refuses.
local helper = require "helper"
local cjson = require "cjson"

local FIXTURES = "spec/fixtures/replay/"
local SESSION = FIXTURES .. "session.jsonl"
local PNG_MAGIC = "\137PNG\r\n\26\n"
local CDN = "https://cdn.airight.example/out/"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A request with curl: returns the status, the headers (names lower-cased)
-- and the body.
local function request(url, args, key)
  local out = helper.capture("curl -s -i -H " .. sh_quote("x-api-key: " .. (key or "test-key"))
    .. " " .. (args or "") .. " " .. sh_quote(url))
  local head, body = out:match("^(.-)\r\n\r\n(.*)$")
  assert(head, "no HTTP reply: " .. out)
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do headers[name:lower()] = value end
  return tonumber(head:match("^HTTP/%S+ (%d+)")), headers, body
end

-- Submits a multipart form (modelId, a prompt and a callback filled in).
local function submit(mock, fields, key)
  local form = { modelId = "70", prompt = "a replayed lighthouse",
    callback = mock.url .. "/_mock/callback" }
  for k, v in pairs(fields or {}) do form[k] = v end
  local args = {}
  for k, v in pairs(form) do
    if v ~= false then args[#args + 1] = "--form-string " .. sh_quote(k .. "=" .. v) end
  end
  return request(mock.url .. "/sdk/models/dall-e", table.concat(args, " "), key)
end

local function submit_json(mock, fields)
  local status, headers, body = submit(mock, fields)
  return status, cjson.decode(body), headers
end

local function poll(mock, id, key)
  local status, headers, body = request(mock.url .. "/sdk/art/" .. id, "", key)
  return status, cjson.decode(body), headers
end

local function image_url(mock, id)
  return mock.url .. "/images/" .. id .. ".png"
end

-- Runs dalle-mock with `args` and returns its exit code and what it wrote
-- on stderr (stdout is dropped: a refused start must say nothing there).
local function run_mock(args)
  -- timeout: a file wrongly taken would leave it serving.
  local out = helper.capture("timeout 10 " .. helper.MOCK .. " --port 0 " .. args
    .. " 2>&1 >/dev/null; echo exit=$?")
  local text, code = out:match("^(.*)exit=(%d+)\n$")
  return tonumber(code), text
end

describe("dalle-mock --replay", function()
  local mock

  setup(function() mock = helper.start_mock { "--replay", SESSION } end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("replays submits in file order with the mock's ids, then starts over", function()
    local status, a, headers = submit_json(mock, { prompt = "first", model = "dall-e-3" })
    assert.equals(200, status)
    assert.equals("application/json; charset=utf-8", headers["content-type"])
    assert.matches("^%x+$", a.id)
    assert.same({ id = a.id, status = "queued" }, a)

    -- The recorded numeric id 9001 comes back as the mock's id, a string.
    local b
    status, b = submit_json(mock, { prompt = "second" })
    assert.equals(201, status)
    assert.is_string(b.data.jobId)
    assert.matches("^%x+$", b.data.jobId)
    assert.same({ data = { jobId = b.data.jobId, state = "QUEUED" } }, b)
    assert.are_not.equal(a.id, b.data.jobId)

    local limited, limited_headers
    status, limited, limited_headers = submit_json(mock, { prompt = "third" })
    assert.equals(429, status)
    assert.equals("7", limited_headers["retry-after"])
    assert.same({ message = "rate limited", code = 429 }, limited)

    local text_headers, text
    status, text_headers, text = submit(mock, { prompt = "fourth" })
    assert.equals(503, status)
    assert.equals("text/html", text_headers["content-type"])
    assert.equals("<html>\n<body>busy, try later</body>\n</html>", text)
    assert.is_nil(text_headers["retry-after"])

    -- A transport failure was recorded last: it is skipped, so the fifth
    -- submit gets the first reply again, for a new job.
    local again
    status, again = submit_json(mock, { prompt = "fifth" })
    assert.equals(200, status)
    assert.same({ id = again.id, status = "queued" }, again)
    assert.are_not.equal(a.id, again.id)

    -- Only the 2xx submits made jobs, with the prompts sent.
    local jobs = mock:jobs()
    assert.equals(3, #jobs)
    assert.same({ a.id, b.data.jobId, again.id }, { jobs[1].id, jobs[2].id, jobs[3].id })
    assert.same({ "first", "second", "fifth" }, { jobs[1].prompt, jobs[2].prompt, jobs[3].prompt })
  end)

  it("answers a job's polls with its recorded polls in order, the last one repeated", function()
    local _, a = submit_json(mock, { size = "1792x1024", model = "dall-e-3" })
    local _, b = submit_json(mock)
    local url = image_url(mock, a.id)

    local status, first, headers = poll(mock, a.id)
    assert.equals(200, status)
    assert.equals("1", headers["retry-after"])
    assert.same({ id = a.id, status = "processing", progress = 10 }, first)

    -- The recorded transport failure between the two is no reply: skipped.
    local second
    status, second, headers = poll(mock, a.id)
    assert.equals(200, status)
    assert.same({ id = a.id, status = "processing", progress = 60 }, second)
    assert.is_nil(headers["retry-after"])

    local done
    status, done = poll(mock, a.id)
    assert.equals(200, status)
    assert.equals("succeeded", done.status)
    assert.same({ url, url }, done.images)
    assert.equals(a.id, done.meta.job)
    assert.same({ a.id, 1, cjson.null, true, false, -2500 }, done.meta.ids)
    -- Equal strings only: the id inside a longer string and a URL that is no
    -- recorded image stay as they were.
    assert.equals("rec-a1 is not rewritten inside a longer string", done.meta.note)
    assert.equals(CDN, done.meta.cdn)
    assert.equals("a lighthouse \195\169 \240\159\152\128 \"quoted\" back\\slash tab\t/", done.prompt)

    local _, repeated = poll(mock, a.id)
    assert.same(done, repeated)

    -- The other job has one recorded poll, a failure; its message keeps the
    -- recorded id it merely mentions.
    local failed
    status, failed = poll(mock, b.data.jobId)
    assert.equals(200, status)
    assert.same({ data = { jobId = b.data.jobId, state = "FAILED",
      message = "content policy violation (job 9001)" } }, failed)
    assert.same(failed, select(2, poll(mock, b.data.jobId)))

    -- The replayed image URL serves the PNG of the size submitted.
    local got, headers_of_image, bytes = request(url)
    assert.equals(200, got)
    assert.equals("image/png", headers_of_image["content-type"])
    assert.equals(PNG_MAGIC, bytes:sub(1, 8))
    assert.equals("\0\0\7\0\0\0\4\0", bytes:sub(17, 24)) -- 1792 x 1024

    -- A job of a later cycle starts its polls from the first again.
    for _ = 1, 2 do submit(mock) end
    local _, c = submit_json(mock)
    assert.same({ id = c.id, status = "processing", progress = 10 }, select(2, poll(mock, c.id)))
  end)

  it("checks the API key and the form before replaying, and starts over after a reset", function()
    assert.equals(401, (submit(mock, nil, "wrong-key")))
    local status, _, body = submit(mock, { prompt = false })
    assert.equals(400, status)
    assert.equals("prompt", cjson.decode(body).field)
    status, _, body = submit(mock, { model = "dall-e-2", size = "1792x1024" })
    assert.equals(400, status)
    assert.equals("size", cjson.decode(body).field)
    -- None of those took a recorded reply: this is the first.
    local a
    status, a = submit_json(mock)
    assert.equals(200, status)
    assert.same({ id = a.id, status = "queued" }, a)
    -- Nor does a poll with a wrong key take a recorded poll.
    assert.equals(401, (poll(mock, a.id, "wrong-key")))
    assert.equals(10, select(2, poll(mock, a.id)).progress)
    assert.equals(201, (submit(mock)))
    mock:reset()
    assert.equals(200, (submit(mock)))
    assert.equals(404, (poll(mock, a.id)))
  end)

  it("serves a replayed job's image at once, and posts no callback for it", function()
    local _, a = submit_json(mock)
    local status, headers = request(image_url(mock, a.id))
    assert.equals(200, status)
    assert.equals("image/png", headers["content-type"])
    for _ = 1, 3 do poll(mock, a.id) end
    helper.sleep(0.3)
    assert.same({}, mock:callbacks())
    assert.equals("succeeded", mock:jobs()[1].state)
  end)

  it("plays back to the client: a job that succeeds, then one that fails", function()
    local client = mock:client { max_retries = 0 }
    local result = assert(client:generate { prompt = "a lighthouse at dusk", timeout = 20 })
    assert.equals("succeeded", result.status)
    local jobs = mock:jobs()
    assert.equals(jobs[1].id, result.id)
    assert.equals(image_url(mock, result.id), result.url)
    assert.same({ result.url, result.url }, result.images)
    local dir = helper.tmpdir()
    assert.is_true(client:download(result, dir .. "/out.png"))
    assert.equals(PNG_MAGIC, helper.read_file(dir .. "/out.png"):sub(1, 8))
    helper.rmdir(dir)

    local failed, err = client:generate { prompt = "a forbidden thing", timeout = 20 }
    assert.is_nil(failed)
    assert.equals("failed", err.kind)
    assert.equals(mock:jobs()[2].id, err.id)
    assert.matches("content policy violation", err.message, 1, true)
    client:close()
  end)
end)

describe("dalle-mock --replay of jobs with no recorded poll", function()
  local mock

  setup(function() mock = helper.start_mock { "--replay", FIXTURES .. "no-polls.jsonl" } end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("answers their polls 404, saying so, and sends a body_text as recorded", function()
    local _, lonely = submit_json(mock)
    local status, body = poll(mock, lonely.id)
    assert.equals(404, status)
    assert.equals("dalle-mock --replay: the recording has no poll of this job (recorded as "
      .. "rec-lonely)", body.message)

    local headers, text
    status, headers, text = submit(mock)
    assert.equals(202, status)
    assert.equals("accepted", text)
    assert.equals("application/json", headers["content-type"])
    local jobs = mock:jobs()
    assert.equals(2, #jobs)
    status, body = poll(mock, jobs[2].id)
    assert.equals(404, status)
    assert.matches("recorded as a job whose submit reply gave no id", body.message, 1, true)
    assert.equals(404, (poll(mock, "rec-lonely")))
  end)

  it("rewrites the image URL of a job recorded without an id", function()
    submit(mock)
    submit(mock)
    local status, done = submit_json(mock, { size = "512x512" })
    assert.equals(200, status)
    local jobs = mock:jobs()
    assert.equals(3, #jobs)
    assert.same({ status = "done", url = image_url(mock, jobs[3].id) }, done)
    local got, _, bytes = request(done.url)
    assert.equals(200, got)
    assert.equals("\0\0\2\0\0\0\2\0", bytes:sub(17, 24))
  end)
end)

describe("dalle-mock --replay refuses", function()
  local dir

  setup(function() dir = helper.tmpdir() end)
  teardown(function() helper.rmdir(dir) end)

  local SUBMIT = '{"call":"submit","status":200,"job":"j1","body":{"id":"j1"}}'
  local POLL = '{"call":"poll","status":200,"job":"j1","body":{"id":"j1","status":"done"}}'

  -- { file contents, the line named (false: none), what the message says }
  local CASES = {
    ["a line that is not JSON"] = { SUBMIT .. "\n{\"call\":\"poll\",\n", 2,
      "not JSON: the text ends where a member name in quotes should be at byte 16" },
    ["a value that is not an object"] = { SUBMIT .. "\n\n[1, 2]\n", 3, "not a JSON object" },
    ["trailing text after the object"] = { SUBMIT .. " x\n", 1,
      "not JSON: 'x' where the end of the text should be" },
    ["a lone surrogate"] = { '{"call":"submit","status":200,"body":"\\ud800"}\n', 1,
      "first half of a surrogate pair with no second" },
    ["a line with no call"] = { SUBMIT .. '\n{"status":200,"body":{}}\n', 2, 'no "call" string' },
    ["a submit without status or failure"] = { '{"call":"submit","body":{"id":"x"}}\n', 1,
      'a submit line with neither a reply ("status" and "body") nor "failure"' },
    ["a poll with a status but no body"] = { SUBMIT .. '\n{"call":"poll","job":"j1","status":200}\n',
      2, 'a poll line with a "status" but no "body" or "body_text"' },
    ["a status that is a string"] = { '{"call":"submit","status":"200","body":{}}\n', 1,
      '"status" is not a number from 200 to 599' },
    ["a status of 600"] = { SUBMIT .. "\n" .. POLL:gsub("200", "600") .. "\n", 2,
      '"status" is not a number from 200 to 599' },
    ["a status of 100 (not a final reply)"] = { '{"call":"submit","status":100,"body":{}}\n', 1,
      '"status" is not a number from 200 to 599' },
    ["a fractional status"] = { '{"call":"submit","status":200.5,"body":{}}\n', 1,
      '"status" is not a number from 200 to 599' },
    ["both body and body_text"] = { '{"call":"submit","status":200,"body":{},"body_text":"x"}\n', 1,
      'both "body" and "body_text"' },
    ["a body_text that is not a string"] = { '{"call":"submit","status":500,"body_text":5}\n', 1,
      '"body_text" is not a string' },
    ["a poll without job"] = { SUBMIT .. '\n{"call":"poll","status":200,"body":{}}\n', 2,
      'a poll line without "job"' },
    ["images that are not strings"] = { '{"call":"submit","status":200,"images":[1],"body":{}}\n',
      1, '"images" is not a list of strings' },
    ["a content_type with a line break"] = {
      '{"call":"submit","status":200,"content_type":"text/plain\\r\\nX: y","body":{}}\n', 1,
      '"content_type" is not a one-line string' },
    ["a long retry_after"] = { '{"call":"submit","status":429,"retry_after":"'
      .. ("9"):rep(80) .. '","body":{}}\n', 1, '"retry_after" is not a one-line string' },
    ["an empty file"] = { "", false, "the file is empty: nothing to replay" },
    ["a file of blank lines"] = { "\n  \n\r\n", false, "the file is empty: nothing to replay" },
    ["a file with no submit"] = { POLL .. "\n", false, "no submit line with a reply" },
    ["a file whose submits all failed to connect"] = {
      '{"call":"submit","failure":"connect","error":"refused"}\n{"call":"download"}\n', false,
      "no submit line with a reply" },
    ["a line over the length limit"] = { SUBMIT .. "\n" .. (" "):rep(32 * 1024 * 1024 + 1) .. "\n",
      2, "longer than 33554432 bytes" },
    ["more lines than the limit"] = { SUBMIT .. ("\n"):rep(100001), 100001,
      "the file has more than 100000 lines" },
  }

  for name, case in pairs(CASES) do
    it(name .. ", at start, with exit 2 and one line saying where", function()
      local path = dir .. "/case.jsonl"
      local f = assert(io.open(path, "wb"))
      f:write(case[1])
      f:close()
      local code, stderr = run_mock("--replay " .. sh_quote(path))
      assert.equals(2, code)
      local where = case[2] and ": line " .. case[2] .. ": " or ": "
      assert.equals("dalle-mock: --replay '" .. path .. "'" .. where,
        stderr:sub(1, #("dalle-mock: --replay '" .. path .. "'" .. where)))
      assert.matches(case[3], stderr, 1, true)
      assert.matches("^[^\n]*\n$", stderr)
    end)
  end

  it("a file it cannot open", function()
    local code, stderr = run_mock("--replay " .. sh_quote(dir .. "/missing.jsonl"))
    assert.equals(2, code)
    assert.equals("dalle-mock: --replay '" .. dir .. "/missing.jsonl': cannot open: "
      .. "No such file or directory\n", stderr)
  end)

  it("and says in --help that replay posts no callbacks", function()
    local help = helper.capture(helper.MOCK .. " --help")
    assert.matches("--replay PATH", help, 1, true)
    assert.matches("posts no callbacks", help, 1, true)
  end)
end)
