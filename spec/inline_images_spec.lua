-- Rule 5 of the response rules: image URLs in every documented place,
-- OpenAI's own Images reply ({"created", "data": [...]}) with or without an
-- id and status, and images sent inline (b64_json, data: URLs), read by
-- parse_callback and saved by download exactly as a fetched image is.
local helper = require "helper"
local dalle = require "dalle"
local cjson = require "cjson"

-- The first bytes of a PNG are all the check looks at; the rest is filler.
local PNG = "\137PNG\r\n\26\n" .. string.rep("\0\1\2\3", 64)
local PNG_B64 = helper.base64(PNG)

describe("OpenAI's Images reply, passed through", function()
  it("is read with no id or status (the reply itself is the finished job)", function()
    local body = '{"created":1700000000,"data":[{"url":"http://h/1.png",'
      .. '"revised_prompt":"A red kite, drawn in detail"}]}'
    local result = assert(dalle.parse_callback(body))
    assert.equals("succeeded", result.status)
    assert.is_nil(result.id)
    assert.same({ "http://h/1.png" }, result.images)
    assert.equals("http://h/1.png", result.url)
    assert.equals("A red kite, drawn in detail", result.revised_prompt)
  end)

  it("is read with an id and a status beside it", function()
    local body = '{"id":"job-7","status":"succeeded","created":1700000000,"data":['
      .. '{"url":"http://h/1.png","revised_prompt":"first"},{"url":"http://h/2.png",'
      .. '"revised_prompt":"second"}]}'
    local result = assert(dalle.parse_callback(body))
    assert.equals("job-7", result.id)
    assert.same({ "http://h/1.png", "http://h/2.png" }, result.images)
    assert.equals("first", result.revised_prompt)
  end)

  it("is read inside a wrapper", function()
    local body = '{"result":{"taskId":12,"created":1,"data":[{"url":"http://h/1.png"}]}}'
    local result = assert(dalle.parse_callback(body))
    assert.equals("12", result.id)
    assert.same({ "http://h/1.png" }, result.images)
    assert.is_nil(result.revised_prompt)
  end)

  it("keeps the id beside an empty data array, which is no wrapper (it was unwrapped)", function()
    local _, err = dalle.parse_callback('{"id":"job-7","status":"in_progress","data":[]}')
    assert.equals("decode", err.kind)
    assert.matches("in_progress", err.message)
    assert.equals("job-7", err.raw.id)
    local reading = require("dalle.response").read(cjson.decode('{"id":"job-7","data":[]}'))
    assert.equals("job-7", reading.id)
  end)

  it("gives b64_json images as data: URLs of the right media type", function()
    local jpeg = helper.base64("\255\216\255\224" .. string.rep("j", 20))
    local webp = helper.base64("RIFF\0\0\0\0WEBPVP8 " .. string.rep("w", 20))
    local body = cjson.encode { created = 1, data = {
      { b64_json = PNG_B64, revised_prompt = "inline" }, { b64_json = jpeg }, { b64_json = webp },
    } }
    local result = assert(dalle.parse_callback(body))
    assert.same({ "data:image/png;base64," .. PNG_B64, "data:image/jpeg;base64," .. jpeg,
      "data:image/webp;base64," .. webp }, result.images)
    assert.equals(result.images[1], result.url)
    assert.equals("inline", result.revised_prompt)
  end)

  it("keeps a data: URL given where a URL goes", function()
    local url = "data:image/png;base64," .. PNG_B64
    local result = assert(dalle.parse_callback(cjson.encode { id = "a", image_url = url }))
    assert.same({ url }, result.images)
  end)

  it("reports a failed job in OpenAI's error shape", function()
    local _, err = dalle.parse_callback('{"id":"a","status":"failed","error":{"message":"nope"}}')
    assert.equals("failed", err.kind)
    assert.equals("nope", err.reason)
  end)
end)

describe("a submit reply that already holds the image", function()
  it("is a job that has succeeded, with no id and nothing to poll", function()
    local mock = helper.start_mock { "--replay", "spec/fixtures/openai-sync.jsonl" }
    local client = mock:client()
    local job = assert(client:submit { prompt = "a fox" })
    assert.is_nil(job.id)
    assert.equals("succeeded", job.status)
    assert.equals("dalle.job (no id) (succeeded)", tostring(job))
    local result = assert(job:wait { timeout = 5 })
    assert.equals("A fox, in watercolour", result.revised_prompt)
    assert.equals(result, job:poll())
    local generated = assert(client:generate { prompt = "a fox", timeout = 5 })
    local dir = helper.tmpdir()
    assert(client:download(generated, dir .. "/fox.png"))
    helper.rmdir(dir)
    assert.equals(0, #mock:requests_to("poll"))
    client:close()
    mock:stop()
  end)
end)

describe("download of an inline image", function()
  local mock, client, dir
  setup(function()
    mock = helper.start_mock()
    dir = helper.tmpdir()
  end)
  teardown(function()
    mock:stop()
    helper.rmdir(dir)
  end)
  before_each(function() client = mock:client() end)
  after_each(function() client:close() end)

  local function inline_result(b64, media)
    return assert(dalle.parse_callback(cjson.encode {
      id = "a", status = "succeeded", url = "data:" .. (media or "image/png") .. ";base64," .. b64,
    }))
  end

  it("decodes and saves it, byte for byte", function()
    local path = dir .. "/inline.png"
    assert.is_true(client:download(inline_result(PNG_B64), path))
    assert.equals(PNG, helper.read_file(path))
    assert.same({ "inline.png" }, helper.list_dir(dir))
    os.remove(path)
  end)

  it("saves an image the mock made, sent as b64_json, as the mock serves it", function()
    local result = assert(client:generate { prompt = "a lighthouse", timeout = 10 })
    local fetched = dir .. "/fetched.png"
    assert(client:download(result, fetched))
    local bytes = helper.read_file(fetched)
    local inline = assert(dalle.parse_callback(cjson.encode {
      created = 1, data = { { b64_json = helper.base64(bytes) } } }))
    local saved = dir .. "/inline-of-fetched.png"
    assert(client:download(inline, saved))
    assert.equals(bytes, helper.read_file(saved))
    os.remove(fetched)
    os.remove(saved)
  end)

  it("accepts line breaks, the URL-safe alphabet and missing padding", function()
    local wrapped = PNG_B64:gsub("(" .. string.rep(".", 76) .. ")", "%1\r\n")
    local urlsafe = PNG_B64:gsub("+", "-"):gsub("/", "_"):gsub("=+$", "")
    for _, b64 in ipairs { wrapped, urlsafe } do
      local path = dir .. "/variant.png"
      assert(client:download(inline_result(b64), path))
      assert.equals(PNG, helper.read_file(path))
      os.remove(path)
    end
  end)

  it("refuses bad base64 with a decode error naming what and where, leaving no file", function()
    local cases = {
      { PNG_B64:sub(1, 20) .. "*" .. PNG_B64:sub(21), "not a base64 character: '%*' at offset 20" },
      { PNG_B64:sub(1, 21), "cut short" },
      { PNG_B64:sub(1, 8) .. "=" .. PNG_B64:sub(9), "after '=' padding" },
      { "", "empty" },
    }
    for _, case in ipairs(cases) do
      local path = dir .. "/bad.png"
      local ok, err = client:download(inline_result(case[1]), path)
      assert.is_nil(ok)
      assert.equals("decode", err.kind)
      assert.matches(case[2], err.message)
      assert.same({}, helper.list_dir(dir))
    end
  end)

  it("refuses bytes that are not a PNG, JPEG or WebP image", function()
    local ok, err = client:download(inline_result(helper.base64("<html>not an image</html>")),
      dir .. "/page.png")
    assert.is_nil(ok)
    assert.equals("decode", err.kind)
    assert.matches("not a PNG, JPEG or WebP image", err.message)
    assert.same({}, helper.list_dir(dir))
  end)

  it("refuses a data: URL that is not a base64 image", function()
    local _, err = client:download({ url = "data:text/plain;base64," .. PNG_B64 }, dir .. "/t.png")
    assert.equals("decode", err.kind)
    assert.matches("not an image", err.message)
    _, err = client:download({ url = "data:image/png,%89PNG" }, dir .. "/t.png")
    assert.equals("decode", err.kind)
    assert.matches("not base64", err.message)
    assert.same({}, helper.list_dir(dir))
  end)

  it("stops at max_image_bytes, leaving no file", function()
    local small = mock:client { max_image_bytes = 100 }
    local ok, err = small:download(inline_result(PNG_B64), dir .. "/big.png")
    small:close()
    assert.is_nil(ok)
    assert.equals("decode", err.kind)
    assert.matches("max_image_bytes %(100 bytes%)", err.message)
    assert.same({}, helper.list_dir(dir))
  end)

  it("reports a file it cannot write as an io error", function()
    local ok, err = client:download(inline_result(PNG_B64), dir .. "/no/such/dir/x.png")
    assert.is_nil(ok)
    assert.equals("io", err.kind)
    assert.matches("cannot create a file next to", err.message)
  end)
end)
