-- Bugs that show only once LuaJIT compiles the hot paths, caught by running
-- them hot in a plain process: thousands of calls from many coroutines.
local helper = require "helper"

describe("hot paths", function()
  local mock

  setup(function() mock = helper.start_mock() end)
  teardown(function() mock:stop() end)

  it("generate keeps its options once LuaJIT compiles the option copy (3,000 jobs, 64 at a time)", function()
    local out = helper.run_lua("spec/fixtures/hot_generate.lua " .. mock.url .. " 3000 64")
    assert.equals("completed 3000", out:match("[^\n]*"))
  end)
end)
