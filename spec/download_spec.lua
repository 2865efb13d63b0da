-- Downloads: the image lands whole at the path or not at all, and only
-- image bytes are kept.
local helper = require "helper"

local PNG_MAGIC = "\137PNG\r\n\26\n"

describe("download", function()
  local mock, client, dir

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)
  before_each(function()
    mock:reset()
    client = mock:client { max_retries = 1 }
    dir = helper.tmpdir()
  end)
  after_each(function()
    client:close()
    helper.rmdir(dir)
  end)

  it("saves the result's image as a PNG", function()
    local result = assert(client:generate { prompt = "a lighthouse", timeout = 10 })
    local path = dir .. "/out.png"
    assert.is_true(client:download(result, path))
    local bytes = helper.read_file(path)
    assert.equals(PNG_MAGIC, bytes:sub(1, 8))
    assert.same({ "out.png" }, helper.list_dir(dir))
  end)

  it("takes a URL string too, and the images differ by prompt", function()
    local a = assert(client:generate { prompt = "red", timeout = 10 })
    local b = assert(client:generate { prompt = "blue", timeout = 10 })
    assert(client:download(a.url, dir .. "/a.png"))
    assert(client:download(b.url, dir .. "/b.png"))
    assert.are_not.equal(helper.read_file(dir .. "/a.png"), helper.read_file(dir .. "/b.png"))
  end)

  it("follows a redirect to the image (a CDN, say)", function()
    local result = assert(client:generate { prompt = "a redirected cat", timeout = 10 })
    mock:fault { on = "image", status = 302, location = result.url }
    local path = dir .. "/out.png"
    assert.is_true(client:download(result, path))
    assert.equals(PNG_MAGIC, helper.read_file(path):sub(1, 8))
    assert.equals(2, #mock:requests_to("image"))
  end)

  -- Pooled easy handles are not reset between requests: a poll that reuses
  -- the handle of a download must still refuse to follow.
  it("never follows a redirect on an API call, even on the handle a download just used", function()
    local job = assert(client:submit { prompt = "a dog" })
    local result = assert(job:wait { timeout = 10 })
    mock:fault { on = "image", status = 302, location = result.url }
    assert.is_true(client:download(result, dir .. "/out.png"))
    local polls = #mock:requests_to("poll")
    local other = assert(client:submit { prompt = "a second dog" })
    mock:fault { on = "poll", status = 302, location = mock.url .. "/sdk/art/" .. other.id }
    local answer, err = other:poll()
    assert.is_nil(answer)
    assert.equals("http", err.kind)
    assert.equals(302, err.status)
    assert.equals(polls + 1, #mock:requests_to("poll"))
  end)

  it("reports a missing image and leaves no file behind", function()
    local ok, err = client:download(mock.url .. "/images/nothere.png", dir .. "/x.png")
    assert.is_nil(ok)
    assert.equals("http", err.kind)
    assert.equals(404, err.status)
    assert.same({}, helper.list_dir(dir))
  end)

  it("refuses bytes that are not an image and leaves no file behind", function()
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    mock:fault { wrong_type = 1, on = "image" }
    local ok, err = client:download(result, dir .. "/x.png")
    assert.is_nil(ok)
    assert.equals("decode", err.kind)
    assert.matches("not a PNG, JPEG or WebP", err.message)
    assert.same({}, helper.list_dir(dir))
  end)

  it("stops at max_image_bytes and removes the partial file", function()
    client:close()
    client = mock:client { max_image_bytes = 100 }
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    local ok, err = client:download(result, dir .. "/x.png")
    assert.is_nil(ok)
    assert.equals("decode", err.kind)
    assert.matches("max_image_bytes", err.message)
    assert.same({}, helper.list_dir(dir))
  end)

  it("keeps an existing file when the new download fails", function()
    local path = dir .. "/keep.png"
    local f = assert(io.open(path, "wb"))
    f:write("old")
    f:close()
    local _, err = client:download(mock.url .. "/images/nothere.png", path)
    assert.equals(404, err.status)
    assert.equals("old", helper.read_file(path))
  end)

  it("reports a folder that does not exist as an io error", function()
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    local ok, err = client:download(result, dir .. "/no/such/dir/x.png")
    assert.is_nil(ok)
    assert.equals("io", err.kind)
  end)

  it("refuses a URL that is not http(s)", function()
    local ok, err = client:download("file:///etc/passwd", dir .. "/x.png")
    assert.is_nil(ok)
    assert.equals("invalid", err.kind)
    assert.equals("url", err.field)
  end)

  it("sends the API key to the service's own host only, the user agent to every host", function()
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    assert(client:download(result, dir .. "/a.png"))
    local images = mock:requests_to("image")
    assert.equals("test-key", images[1].headers["x-api-key"])
    local other = mock:client { base_url = "http://localhost:" .. mock.port }
    assert(other:download(result, dir .. "/b.png"))
    images = mock:requests_to("image")
    assert.is_nil(images[2].headers["x-api-key"])
    assert.matches("^lua%-dalle/", images[2].headers["user-agent"])
    other:close()
  end)

  it("retries a download that failed with a 5xx", function()
    local result = assert(client:generate { prompt = "x", timeout = 10 })
    mock:fault { status = 503, on = "image" }
    assert.is_true(client:download(result, dir .. "/x.png"))
    assert.equals(2, #mock:requests_to("image"))
  end)
end)
