-- A host that resumes a yielded call itself, at once and without stepping
-- the client (nginx's Lua module does so with every request's coroutine),
-- made the call spin at 100% CPU until its deadline, never sending a byte;
-- a host that does not resume it for a while must still get the call's
-- honest end. The hosts themselves are tested in their own specs; these
-- play the resumer in plain Lua.
local helper = require "helper"

-- Resumes `co` at once whenever it yields, as such a host does, at most
-- `limit` times; returns what it returned and how many resumes it took.
local function resume_at_once(co, limit)
  local ok, value, err = coroutine.resume(co)
  local resumes = 0
  while coroutine.status(co) == "suspended" and resumes < limit do
    resumes = resumes + 1
    ok, value, err = coroutine.resume(co)
  end
  assert(ok, value)
  return value, err, resumes
end

describe("a call resumed by someone who never steps the client", function()
  local state = helper.mock_per_test()

  it("blocks instead of spinning, and finishes (it spun until its deadline)", function()
    local co = coroutine.create(function()
      return state.client:generate { prompt = "a lamp", timeout = 10 }
    end)
    local result, err, resumes = resume_at_once(co, 1000)
    assert.equals("dead", coroutine.status(co))
    assert(result, tostring(err))
    assert.equals("succeeded", result.status)
    -- One resume to find out; from then on the coroutine blocks.
    assert.equals(1, resumes)
  end)

  it("keeps blocking in its later calls, without yielding first", function()
    local co = coroutine.create(function()
      local first = assert(state.client:generate { prompt = "one", timeout = 10 })
      local second = assert(state.client:generate { prompt = "two", timeout = 10 })
      return { first, second }
    end)
    local both, err, resumes = resume_at_once(co, 1000)
    assert(both, tostring(err))
    assert.equals(2, #both)
    assert.equals(1, resumes)
  end)

  it("blocks inside wait_all too", function()
    local jobs = { assert(state.client:submit { prompt = "a" }), assert(state.client:submit { prompt = "b" }) }
    local co = coroutine.create(function() return state.client:wait_all(jobs, { timeout = 10 }) end)
    local outcomes, err, resumes = resume_at_once(co, 1000)
    assert(outcomes, tostring(err))
    assert.equals("succeeded", outcomes[1][1].status)
    assert.equals("succeeded", outcomes[2][1].status)
    assert.equals(1, resumes)
  end)

  it("resumed only after its deadline, ends at once and says the submit was never sent",
    function()
      local co = coroutine.create(function() return state.client:submit { prompt = "x", timeout = 0.3 } end)
      assert(coroutine.resume(co))
      assert.equals("suspended", coroutine.status(co))
      helper.sleep(0.6) -- the host is busy elsewhere; nobody steps the client
      local started = require("dalle.core").now()
      local ok, job, err = coroutine.resume(co)
      assert(ok, job)
      assert.equals("dead", coroutine.status(co))
      assert.is_true(require("dalle.core").now() - started < 0.2)
      assert.is_nil(job)
      assert.equals("timeout", err.kind)
      assert.is_nil(err.maybe_submitted)
      assert.matches("never sent", err.message)
      assert.equals(0, #state.mock:requests_to("submit"))
      assert.equals(0, select(1, state.client._core:active()))
    end)
end)
