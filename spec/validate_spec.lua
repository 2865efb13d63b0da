-- dalle.validate: every valid combination of the rules table is accepted with
-- its defaults filled, and every kind of invalid option is refused by name.
local dalle = require "dalle"

local CALLBACK = "http://127.0.0.1:9/cb"

local function opts(t)
  t.callback = t.callback or CALLBACK
  if t.prompt == nil then t.prompt = "a red fox in snow" end
  return t
end

local function rejects(o, field, pattern)
  local params, err = dalle.validate(o)
  assert.is_nil(params)
  assert.equals("invalid", err.kind)
  assert.equals(field, err.field)
  if pattern then assert.matches(pattern, err.message, 1, true) end
  return err
end

local function with_nil(list)
  local out = { false }
  for _, v in ipairs(list) do out[#out + 1] = v end
  return out
end

describe("dalle.validate", function()
  local rules = dalle.rules()

  it("knows both DALL-E models", function()
    local names = {}
    for _, r in ipairs(rules) do names[#names + 1] = r.name end
    assert.same({ "dall-e-2", "dall-e-3" }, names)
  end)

  for _, rule in ipairs(rules) do
    describe("for " .. rule.name, function()
      it("accepts every size, quality and style combination", function()
        local combos = 0
        for _, size in ipairs(rule.sizes) do
          for _, quality in ipairs(with_nil(rule.qualities)) do
            for _, style in ipairs(with_nil(rule.styles)) do
              local o = opts { model = rule.name, size = size }
              if quality then o.quality = quality end
              if style then o.style = style end
              local params, err = dalle.validate(o)
              assert.is_nil(err)
              assert.equals(size, params.size)
              assert.equals(rule.name, params.model)
              assert.equals("70", params.model_id)
              if #rule.qualities > 0 then
                assert.equals(quality or rule.qualities[1], params.quality)
                assert.equals(style or rule.styles[1], params.style)
              else
                assert.is_nil(params.quality)
                assert.is_nil(params.style)
              end
              combos = combos + 1
            end
          end
        end
        assert.equals(#rule.sizes * (#rule.qualities + 1) * (#rule.styles + 1), combos)
      end)

      it("rejects sizes of other models and malformed sizes, listing the allowed ones", function()
        local bad = { "640x480", "", "1024X1024", "1024x1024 ", "0x0" }
        for _, other in ipairs(rules) do
          for _, size in ipairs(other.sizes) do
            local allowed = false
            for _, s in ipairs(rule.sizes) do allowed = allowed or s == size end
            if not allowed then bad[#bad + 1] = size end
          end
        end
        for _, size in ipairs(bad) do
          rejects(opts { model = rule.name, size = size }, "size",
            "invalid size '" .. size .. "' for " .. rule.name .. " (allowed: "
            .. table.concat(rule.sizes, ", ") .. ")")
        end
      end)

      it("accepts a prompt of exactly " .. rule.prompt_max_chars .. " characters, counted as characters", function()
        local params = dalle.validate(opts { model = rule.name, prompt = ("é"):rep(rule.prompt_max_chars) })
        assert.is_table(params)
        local err = rejects(opts { model = rule.name, prompt = ("é"):rep(rule.prompt_max_chars + 1) },
          "prompt")
        assert.matches(tostring(rule.prompt_max_chars + 1) .. " characters", err.message, 1, true)
        assert.matches("at most " .. rule.prompt_max_chars, err.message, 1, true)
      end)
    end)
  end

  it("gives the documented message for a dall-e-3 size", function()
    local err = rejects(opts { model = "dall-e-3", size = "640x480" }, "size")
    assert.equals("invalid size '640x480' for dall-e-3 (allowed: 1024x1024, 1792x1024, 1024x1792)",
      err.message)
  end)

  it("fills the defaults: dall-e-2, 1024x1024, and no quality or style", function()
    local params = dalle.validate(opts {})
    assert.equals("dall-e-2", params.model)
    assert.equals("1024x1024", params.size)
    assert.is_nil(params.quality)
    assert.is_nil(params.style)
  end)

  it("fills dall-e-3's defaults: standard quality, vivid style", function()
    local params = dalle.validate(opts { model = "dall-e-3" })
    assert.equals("standard", params.quality)
    assert.equals("vivid", params.style)
  end)

  it("refuses quality and style with dall-e-2 instead of dropping them", function()
    for _, q in ipairs { "standard", "hd", "ultra" } do
      rejects(opts { quality = q }, "quality", "quality '" .. q .. "' is not accepted by dall-e-2")
      rejects(opts { model = "dall-e-2", style = q }, "style", "is only for dall-e-3")
    end
  end)

  it("refuses unknown quality and style values for dall-e-3", function()
    rejects(opts { model = "dall-e-3", quality = "HD" }, "quality", "(allowed: standard, hd)")
    rejects(opts { model = "dall-e-3", style = "noir" }, "style", "(allowed: vivid, natural)")
  end)

  it("refuses unknown models, naming the known ones", function()
    for _, m in ipairs { "dall-e-4", "DALL-E-3", "", "dall-e-2 " } do
      rejects(opts { model = m }, "model", "(allowed: dall-e-2, dall-e-3)")
    end
  end)

  it("refuses unknown option names, so a typo is never ignored", function()
    local err = rejects(opts { sise = "512x512" }, "sise", "unknown option 'sise'")
    assert.matches("allowed: prompt, model, size, quality, style, callback", err.message, 1, true)
    rejects(opts { [1] = "x" }, "?", "option names must be strings")
  end)

  it("returns an error (not a raise) for options of the wrong type", function()
    rejects({ prompt = 42, callback = CALLBACK }, "prompt", "option 'prompt' must be a string (got number)")
    rejects(opts { size = 1024 }, "size", "must be a string")
    rejects(opts { model = true }, "model", "must be a string")
    rejects(opts { callback = {} }, "callback", "must be a string")
  end)

  it("requires a non-empty prompt", function()
    rejects({ callback = CALLBACK }, "prompt", "prompt is required")
    rejects(opts { prompt = "" }, "prompt", "must not be empty")
  end)

  it("refuses prompts that are not valid UTF-8 or hold NUL bytes", function()
    for _, p in ipairs { "\255", "caf\195", "\192\175", "\237\160\128", "\244\144\128\128",
      "a\0b", "\226\130" } do
      rejects(opts { prompt = p }, "prompt", "valid UTF-8 text without NUL bytes")
    end
  end)

  it("counts a four-byte character as one", function()
    assert.is_table(dalle.validate(opts { prompt = ("😀"):rep(1000) }))
    rejects(opts { prompt = ("😀"):rep(1001) }, "prompt", "1001 characters")
  end)

  it("requires a callback that is an absolute http(s) URL", function()
    rejects({ prompt = "x" }, "callback", "callback is required")
    for _, url in ipairs { "ftp://h/x", "/cb", "http://", "http:// h/x", "h/cb", "javascript:x",
      "http://h:123456/", "http://[zz]/", "https//h" } do
      rejects(opts { callback = url }, "callback", "absolute http:// or https:// URL")
    end
    for _, url in ipairs { "http://localhost:8080/cb", "https://example.com/cb?x=1#y",
      "http://[::1]:9/cb", "HTTPS://EXAMPLE.COM" } do
      assert.is_table(dalle.validate(opts { callback = url }), url)
    end
  end)

  it("accepts a positive timeout (taken by the calls that wait) and refuses others", function()
    assert.is_table(dalle.validate(opts { timeout = 5 }))
    rejects(opts { timeout = -1 }, "timeout", "positive number")
    rejects(opts { timeout = "5" }, "timeout", "positive number")
  end)

  it("raises when the options are not a table", function()
    assert.has_error(function() dalle.validate(nil) end,
      "bad argument #1 to 'validate' (table expected, got nil)")
    assert.has_error(function() dalle.validate("a cat") end)
  end)

  it("quotes a bad value as valid UTF-8, cut at a character boundary", function()
    for _, bad in ipairs { ("é"):rep(100), "\255\254x", ("a"):rep(59) .. "€€", "é\0x" } do
      local err = rejects(opts { model = bad }, "model")
      local quoted = err.message:match("^invalid model '(.-)' %(")
      assert.is_table(dalle.validate(opts { prompt = quoted }), "not valid UTF-8: " .. quoted)
    end
  end)

  it("prints an error on one line naming kind, message and field", function()
    local _, err = dalle.validate(opts { model = "dall-e-3", size = "1x1" })
    local text = tostring(err)
    assert.equals("dalle invalid: invalid size '1x1' for dall-e-3 (allowed: 1024x1024, "
      .. "1792x1024, 1024x1792) (field size)", text)
    assert.is_nil(text:find("\n"))
    assert.is_false(err.retryable)
  end)
end)
