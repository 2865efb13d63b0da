-- dalle-mock itself, where a client of ours cannot reach: bodies written
-- the way other HTTP clients write them, the images it draws, and the
-- bodies of its OpenAI-like shapes, read with curl.
local helper = require "helper"
local cjson = require "cjson"

local PNG_MAGIC = "\137PNG\r\n\26\n"
local REVISED_PREFIX = "A detailed rendering of: "
-- Quotes, a backslash, control characters and UTF-8 of two to four bytes.
local AWKWARD_PROMPT = 'say "hi" \\ back\n\ttab \1 caf\195\169 \226\130\172 \240\159\152\128'

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A request with curl: returns the status and the body.
local function curl(args, url)
  local out = helper.capture("curl -s -w '\\n%{http_code}' -H 'x-api-key: test-key' " .. args
    .. " " .. sh_quote(url))
  local body, status = out:match("^(.*)\n(%d+)$")
  return tonumber(status), body
end

-- Submits a form (modelId and callback filled in) as a multipart body;
-- returns the status and the decoded reply.
local function submit(mock, fields)
  local form = { modelId = "70", callback = mock.url .. "/_mock/callback" }
  for k, v in pairs(fields) do form[k] = v end
  local args = {}
  for k, v in pairs(form) do args[#args + 1] = "--form-string " .. sh_quote(k .. "=" .. v) end
  local status, body = curl(table.concat(args, " "), mock.url .. "/sdk/models/dall-e")
  return status, cjson.decode(body)
end

local function poll(mock, id)
  local status, body = curl("", mock.url .. "/sdk/art/" .. id)
  assert.equals(200, status)
  return cjson.decode(body)
end

-- The bytes of a job's image, and where they were saved.
local function download(mock, dir, id)
  local path = dir .. "/" .. id .. ".png"
  local status = curl("-o " .. sh_quote(path), mock.url .. "/images/" .. id .. ".png")
  assert.equals(200, status)
  return helper.read_file(path), path
end

local function be32(bytes, at)
  local a, b, c, d = bytes:byte(at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- What Python's zlib makes of a PNG: its signature, chunk names and CRCs,
-- whether the IDAT inflates (adler32 checked) to exactly height rows of a
-- filter byte and width RGB pixels, and the unfiltered rows: how many
-- differ, the first row's first and last pixels.
local PNG_CHECK = [[
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
out = {"signature": data[:8] == b"\x89PNG\r\n\x1a\n", "chunks": [], "crcs_ok": True}
pos, idat = 8, b""
while pos + 12 <= len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    out["crcs_ok"] = out["crcs_ok"] and zlib.crc32(kind + body) == crc
    out["chunks"].append(kind.decode("latin-1"))
    idat += body if kind == b"IDAT" else b""
    pos += 12 + length
out["trailing_bytes"] = len(data) - pos
width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
raw = zlib.decompress(idat)
stride = 3 * width
out["inflated_ok"] = depth == 8 and colour == 2 and len(raw) == height * (1 + stride)
previous, rows = bytes(stride), set()
for y in range(height if out["inflated_ok"] else 0):
    kind, row = raw[y * (1 + stride)], bytearray(raw[y * (1 + stride) + 1:(y + 1) * (1 + stride)])
    if kind == 1:
        for i in range(3, stride):
            row[i] = (row[i] + row[i - 3]) & 255
    elif kind == 2:
        row = previous if not any(row) else bytes((a + b) & 255 for a, b in zip(row, previous))
    elif kind != 0:
        sys.exit("filter %d is not one the mock uses" % kind)
    previous = bytes(row)
    rows.add(previous)
    if y == 0:
        out["first_pixel"], out["last_pixel"] = list(previous[:3]), list(previous[-3:])
out["distinct_rows"] = len(rows)
print(json.dumps(out))
]]

local function check_png(path)
  return cjson.decode(helper.capture("python3 -c " .. sh_quote(PNG_CHECK) .. " " .. sh_quote(path)))
end

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

describe("dalle-mock images", function()
  local mock, dir

  setup(function() mock = helper.start_mock { "--polls", "0" } end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    dir = helper.tmpdir()
  end)
  after_each(function() helper.rmdir(dir) end)

  for _, case in ipairs {
    { "dall-e-2", 256, 256 }, { "dall-e-2", 512, 512 }, { "dall-e-2", 1024, 1024 },
    { "dall-e-3", 1024, 1024 }, { "dall-e-3", 1792, 1024 }, { "dall-e-3", 1024, 1792 },
  } do
    local model, width, height = case[1], case[2], case[3]
    local size = width .. "x" .. height
    it("draws a " .. model .. " " .. size .. " job's PNG at exactly that size, deflated", function()
      local status, job = submit(mock, { prompt = "a tide pool " .. size, model = model, size = size })
      assert.equals(200, status)
      local bytes, path = download(mock, dir, job.id)
      assert.equals(PNG_MAGIC, bytes:sub(1, 8))
      assert.equals("IHDR", bytes:sub(13, 16))
      assert.equals(width, be32(bytes, 17))
      assert.equals(height, be32(bytes, 21))
      local png = check_png(path)
      assert.is_true(png.signature)
      assert.same({ "IHDR", "IDAT", "IEND" }, png.chunks)
      assert.is_true(png.crcs_ok)
      assert.equals(0, png.trailing_bytes)
      assert.is_true(png.inflated_ok)
      -- Bands (more than one row) shaded left to right (not one colour).
      assert.is_true(png.distinct_rows > 1)
      assert.are_not.same(png.first_pixel, png.last_pixel)
      -- Compressed: a small share of the width x height x 3 raw bytes.
      assert.is_true(#bytes < width * height * 3 / 50, #bytes .. " bytes")
    end)
  end

  it("draws the same prompt the same way, and other prompts in other colours", function()
    local _, a = submit(mock, { prompt = "a red kite", size = "256x256" })
    local _, again = submit(mock, { prompt = "a red kite", size = "256x256" })
    local _, b = submit(mock, { prompt = "a blue kite", size = "256x256" })
    local a_bytes, a_path = download(mock, dir, a.id)
    local b_bytes, b_path = download(mock, dir, b.id)
    assert.equals(a_bytes, (download(mock, dir, again.id)))
    assert.are_not.equal(a_bytes, b_bytes)
    assert.are_not.same(check_png(a_path).first_pixel, check_png(b_path).first_pixel)
  end)
end)

describe("dalle-mock openai and b64 shapes", function()
  local mock, dir

  setup(function() mock = helper.start_mock { "--polls", "1" } end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    dir = helper.tmpdir()
  end)
  after_each(function() helper.rmdir(dir) end)

  -- The keys of a decoded object, sorted.
  local function keys(t)
    local out = {}
    for k in pairs(t) do out[#out + 1] = k end
    table.sort(out)
    return out
  end

  local function callback_of(id)
    for _ = 1, 100 do
      for _, got in ipairs(mock:callbacks()) do
        local body = cjson.decode(got.body)
        if body.id == id then return body end
      end
      helper.sleep(0.05)
    end
    error("no callback for job " .. id)
  end

  it("openai: {id}, then in_progress, then OpenAI's Images API reply with the id", function()
    assert.equals("openai", mock:config({ shape = "openai" }).shape)
    local before = os.time()
    local status, job = submit(mock, { prompt = AWKWARD_PROMPT, model = "dall-e-3" })
    assert.equals(200, status)
    assert.same({ "id" }, keys(job))
    assert.matches("^%x+$", job.id)
    assert.same({ id = job.id, status = "in_progress" }, poll(mock, job.id))
    local done = poll(mock, job.id)
    assert.same({ "created", "data", "id" }, keys(done))
    assert.equals(job.id, done.id)
    assert.is_true(done.created >= before - 1 and done.created <= os.time() + 1)
    assert.equals(1, #done.data)
    assert.same({ "revised_prompt", "url" }, keys(done.data[1]))
    assert.equals(mock.url .. "/images/" .. job.id .. ".png", done.data[1].url)
    assert.equals(REVISED_PREFIX .. AWKWARD_PROMPT, done.data[1].revised_prompt)
    assert.equals(PNG_MAGIC, download(mock, dir, job.id):sub(1, 8))
    assert.same(done, callback_of(job.id))
  end)

  it("openai: a failed job has status failed and an error object with the message", function()
    mock:config { shape = "openai" }
    local _, job = submit(mock, { prompt = "[fail] a kite" })
    poll(mock, job.id)
    local failed = poll(mock, job.id)
    assert.same({ id = job.id, status = "failed",
      error = { message = "the mock was asked to fail this job" } }, failed)
    assert.same(failed, callback_of(job.id))
  end)

  it("b64: the image inline as b64_json, the PNG the image URL serves at the job's size", function()
    mock:config { shape = "b64" }
    local _, job = submit(mock, { prompt = AWKWARD_PROMPT, model = "dall-e-3", size = "1024x1792" })
    assert.same({ "id" }, keys(job))
    assert.same({ id = job.id, status = "in_progress" }, poll(mock, job.id))
    local done = poll(mock, job.id)
    assert.same({ "created", "data", "id" }, keys(done))
    assert.same({ "b64_json", "revised_prompt" }, keys(done.data[1]))
    assert.equals(REVISED_PREFIX .. AWKWARD_PROMPT, done.data[1].revised_prompt)
    assert.matches("^[%w+/]+=*$", done.data[1].b64_json)
    local b64_path = dir .. "/b64.txt"
    local f = assert(io.open(b64_path, "wb"))
    f:write(done.data[1].b64_json)
    f:close()
    local inline = helper.capture("base64 -d " .. sh_quote(b64_path))
    assert.equals(PNG_MAGIC, inline:sub(1, 8))
    assert.equals(1024, be32(inline, 17))
    assert.equals(1792, be32(inline, 21))
    assert.equals(download(mock, dir, job.id), inline)
    assert.same(done, callback_of(job.id))
  end)

  it("b64: a failed job is told as in the openai shape", function()
    mock:config { shape = "b64" }
    local _, job = submit(mock, { prompt = "[fail] a kite" })
    poll(mock, job.id)
    assert.same({ id = job.id, status = "failed",
      error = { message = "the mock was asked to fail this job" } }, poll(mock, job.id))
  end)

  it("takes the new shapes on the command line and lists them in --help and errors", function()
    local help = helper.capture(helper.MOCK .. " --help")
    assert.matches("\n  openai    ", help, 1, true)
    assert.matches("\n  b64       ", help, 1, true)
    assert.matches("A detailed rendering of: PROMPT", help, 1, true)
    local refused = mock:config { shape = "openai2" }
    assert.matches("openai, b64", refused.message, 1, true)
    local other = helper.start_mock { "--shape", "b64", "--polls", "0" }
    local _, job = submit(other, { prompt = "from the command line" })
    local done = poll(other, job.id)
    other:stop()
    assert.is_string(done.data[1].b64_json)
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
