-- The examples in examples/ run as their own processes against dalle-mock,
-- so they keep working as the API moves. Each one whose event loop is not
-- installed for this Lua, or that needs pollfd where the build has none, is
-- skipped.
local dalle = require "dalle"
local helper = require "helper"

-- Whether `module` could be required here, found without loading it: busted
-- unloads modules between spec files, and luv does not survive loading twice
-- in one process (the first copy's collector closes the shared uv loop).
local function installed(module)
  if module == nil then return true end
  for _, paths in ipairs { package.path, package.cpath } do
    for template in paths:gmatch("[^;]+") do
      local file = io.open((template:gsub("%?", (module:gsub("%.", "/")))))
      if file then
        file:close()
        return true
      end
    end
  end
  return false
end

-- What each example prints once all went well; copas needs pollfd.
local EXAMPLES = {
  { file = "cqueues.lua", needs = "cqueues", images = 3,
    last = "^the loop ticked %d+ times meanwhile$" },
  { file = "luv.lua", needs = "luv", images = 3,
    last = "^the loop ticked %d+ times meanwhile$" },
  { file = "copas.lua", needs = "copas", needs_pollfd = true, images = 3,
    last = "^the echo service answered [1-9]%d* lines meanwhile$" },
  { file = "frame_loop.lua", images = 1, last = "^[1-9]%d* frames drawn while the image was made$" },
}

describe("examples", function()
  local mock
  -- Every runnable example starts at once (they mostly wait on the mock);
  -- each spec then reads its own output.
  local outputs = {}

  setup(function()
    mock = helper.start_mock { "--polls", "0", "--delay-ms", "300" }
    local env = "AIRIGHT_API_KEY=test-key AIRIGHT_BASE_URL=" .. mock.url
      .. " AIRIGHT_CALLBACK_URL=" .. mock.url .. "/_mock/callback"
    for _, example in ipairs(EXAMPLES) do
      if installed(example.needs) and (dalle.HAS_POLLFD or not example.needs_pollfd) then
        outputs[example.file] = helper.start_lua("examples/" .. example.file, env)
      end
    end
  end)
  teardown(function() mock:stop() end)

  for _, example in ipairs(EXAMPLES) do
    if not installed(example.needs) then
      it(example.file .. " is skipped", function() pending(example.needs .. " is not installed") end)
    elseif example.needs_pollfd and not dalle.HAS_POLLFD then
      it(example.file .. " is skipped", function() pending("this build has no pollfd") end)
    else
      it(example.file .. " makes its images and reports the loop's other work", function()
        local out = outputs[example.file]()
        local lines = {}
        for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
        local images = 0
        for _, line in ipairs(lines) do
          if line:find("/images/[%w]+%.png$") then images = images + 1 end
        end
        assert.equals(example.images, images, out)
        assert.matches(example.last, lines[#lines], 1, false)
      end)
    end
  end
end)
