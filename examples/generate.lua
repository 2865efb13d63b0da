-- Generates one image and saves it as a PNG.
--   lua5.4 examples/generate.lua ["prompt"] [out.png]
-- Reads AIRIGHT_API_KEY, AIRIGHT_BASE_URL (optional) and AIRIGHT_CALLBACK_URL:
-- `make demo` points them at dalle-mock; set them yourself for the real service.
local dalle = require "dalle"

local prompt = arg[1] or "a lighthouse on a cliff at dusk, watercolour"
local out = arg[2] or "dalle-image.png"

local callback = os.getenv("AIRIGHT_CALLBACK_URL")
if not callback then
  io.stderr:write("set AIRIGHT_CALLBACK_URL to a URL of yours that the service can POST the "
    .. "result to (the service requires one; the image is also fetched by polling)\n")
  os.exit(2)
end

local client, err = dalle.new { callback = callback }
if not client then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

print("submitting: " .. prompt)
local job, serr = client:submit { prompt = prompt, model = "dall-e-3", size = "1024x1024" }
if not job then
  io.stderr:write(tostring(serr), "\n")
  os.exit(1)
end
print("job " .. job.id .. " submitted; waiting for the image")

local result, werr = job:wait { timeout = 300 }
if not result then
  io.stderr:write(tostring(werr), "\n")
  os.exit(1)
end
print("image ready: " .. result.url)

local ok, derr = client:download(result, out)
client:close()
if not ok then
  io.stderr:write(tostring(derr), "\n")
  os.exit(1)
end
print("saved " .. out)
