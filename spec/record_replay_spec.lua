-- A session recorded from a service with the client's record mode, then
-- replayed by `dalle-mock --replay`, gives the client the same results: the
-- way a user records the real service once and tests offline against it.
local helper = require "helper"
local cjson = require "cjson"

-- The calls of the session: a submit refused once with 429 (retried), a job
-- that succeeds, and one that fails. Returns what a user would compare.
local function session(client, dir)
  local outcome = {}
  local result, err = client:generate { prompt = "a lighthouse at dusk", model = "dall-e-3",
    timeout = 20 }
  assert(result, tostring(err))
  outcome.revised_prompt = result.revised_prompt
  outcome.images = #result.images
  outcome.inline = result.url:match("^data:") ~= nil
  outcome.id_matches = result.id ~= nil and result.raw ~= nil
  assert(client:download(result, dir .. "/image.png"))
  outcome.image = helper.read_file(dir .. "/image.png"):sub(1, 8)
  local failed
  failed, err = client:generate { prompt = "[fail] a lighthouse", timeout = 20 }
  assert.is_nil(failed)
  outcome.failure = { kind = err.kind, reason = err.reason }
  return outcome
end

for _, shape in ipairs { "nested", "openai", "b64" } do
  describe("a recorded '" .. shape .. "' session, replayed", function()
    local dir
    setup(function() dir = helper.tmpdir() end)
    teardown(function() helper.rmdir(dir) end)

    it("gives the client the same results", function()
      local record = dir .. "/session.jsonl"
      local live = helper.start_mock { "--shape", shape }
      live:fault { status = 429, retry_after = 0, on = "submit" }
      local client = live:client { record = record, record_prompts = true }
      local recorded = session(client, dir)
      client:close()
      live:stop()

      local submits = 0
      for line in helper.read_file(record):gmatch("[^\n]+") do
        if cjson.decode(line).call == "submit" then submits = submits + 1 end
      end
      assert.equals(3, submits) -- the 429, then the two jobs

      local replay = helper.start_mock { "--replay", record }
      client = replay:client()
      local replayed = session(client, dir)
      client:close()
      local requests = replay:requests_to("submit")
      replay:stop()
      assert.same(recorded, replayed)
      assert.equals(3, #requests) -- the 429 was replayed, and retried
      -- The replay mock runs the plain shape: only the file can give these.
      assert.equals("\137PNG\r\n\26\n", replayed.image)
      if shape ~= "nested" then
        assert.equals("A detailed rendering of: a lighthouse at dusk", replayed.revised_prompt)
      end
      assert.equals(shape == "b64", replayed.inline)
    end)
  end)
end
