-- The `dalle` command (bin/dalle): its options (lua-argparse), the client
-- it makes from them and the environment, the one-job commands (generate,
-- status, wait, validate) and the exit codes. A batch is dalle.cli.batch's.
--
--   cli.main(argv) --> exit code
local argparse = require "argparse"
local cjson = require "cjson.safe"
local dalle = require "dalle"
local batchfile = require "dalle.cli.batchfile"
local report = require "dalle.cli.report"

local M = {}

-- Exit codes (README "Command line").
M.EXIT = { done = 0, failed = 1, usage = 2, unfinished = 3 }
local EXIT = M.EXIT

local DEFAULT_PARALLEL = 8
local MAX_PARALLEL = 1024
local JOURNAL_NAME = ".dalle-journal"
local API_KEY_VARIABLE = "AIRIGHT_API_KEY"
local CALLBACK_VARIABLE = "AIRIGHT_CALLBACK_URL"

local json = cjson.new()

local printable = report.printable

local function say(...)
  local parts = { ... }
  for i = 1, #parts do parts[i] = printable(parts[i]) end
  io.stderr:write("dalle: ", table.concat(parts), "\n")
end

-- ---- options ----------------------------------------------------------------

local function add_service_options(command)
  command:option("--base-url", "The service's base URL (default: $AIRIGHT_BASE_URL, else aiRight's).")
    :argname("<url>")
  command:option("--callback", "The callback URL the service POSTs results to (default: $"
    .. CALLBACK_VARIABLE .. ").")
    :argname("<url>")
  command:option("--callback-listen", "Receive callbacks here, HOST:PORT (a receiver in dalle).")
    :argname("<host:port>")
  command:option("--callback-public-url", "The public URL that reaches --callback-listen.")
    :argname("<url>")
  command:option("--timeout", "Seconds one job may take, from submit to image (default 600).")
    :argname("<seconds>")
  command:option("--poll-interval", "Seconds before the first poll (default 2; grows 1.5x).")
    :argname("<seconds>")
end

local function add_request_options(command)
  command:option("-m --model", "dall-e-2 (default) or dall-e-3."):argname("<model>")
  command:option("-s --size", "e.g. 1024x1024 (the default), 1792x1024 for dall-e-3."):argname("<size>")
  command:option("-q --quality", "dall-e-3: standard (default) or hd."):argname("<quality>")
  command:option("--style", "dall-e-3: vivid (default) or natural."):argname("<style>")
end

local function parser()
  local p = argparse("dalle", "Images from the aiRight DALL-E service, one at a time or in "
    .. "batches that survive a crash.")
    :epilog("The API key comes from $" .. API_KEY_VARIABLE .. " only (a flag would show in ps).\n"
      .. "Exit codes: 0 all done; 1 some items failed; 2 usage or invalid input;\n"
      .. "3 interrupted, or items left uncertain or unfinished (running it again resumes).")
  p:command_target("command")

  local generate = p:command("generate", "Generate one image.")
  generate:argument("prompt", "What to draw.")
  add_request_options(generate)
  generate:option("-o --output", "The image file (default: a name made from the prompt, .png).")
    :argname("<file>")
  generate:flag("--json", "Print one JSON object on stdout.")
  add_service_options(generate)

  local batch = p:command("batch", "Generate one image per line of FILE; run it again to resume.")
    :epilog("FILE: one prompt per line, or JSON lines such as\n"
      .. '  {"prompt": "a red fox", "model": "dall-e-3", "size": "1792x1024", "output": "fox.png"}\n'
      .. "(keys prompt, model, size, quality, style, output); blank lines and lines starting\n"
      .. "with # are skipped. Every line is checked before anything is sent.")
  batch:argument("file", "The batch file.")
  batch:option("-o --output", "The directory for the images (created if missing).")
    :args(1):count(1):argname("<dir>")
  batch:option("-j --jobs", "Jobs in flight at once (default " .. DEFAULT_PARALLEL .. ").")
    :argname("<n>")
  batch:option("--journal", "The journal file (default DIR/" .. JOURNAL_NAME .. ").")
    :argname("<file>")
  batch:flag("--resubmit-uncertain", "Submit again the items whose earlier submit may or may not "
    .. "have reached the service (each may then be paid twice).")
  batch:flag("--json", "Print one JSON object per finished item on stdout.")
  add_service_options(batch)

  local status = p:command("status", "Ask once for a job's state.")
  status:argument("id", "The job id.")
  status:flag("--json", "Print one JSON object on stdout.")
  add_service_options(status)

  local wait = p:command("wait", "Wait for a job and save its image.")
  wait:argument("id", "The job id.")
  wait:option("-o --output", "The image file."):args(1):count(1):argname("<file>")
  wait:flag("--json", "Print one JSON object on stdout.")
  add_service_options(wait)

  local validate = p:command("validate", "Check a batch file, send nothing.")
  validate:argument("file", "The batch file.")
  return p, { generate = generate, batch = batch, status = status, wait = wait,
    validate = validate }
end

-- A number option: nil when not given, or nil and the problem.
local function number_option(args, name, flag, low, whole)
  local text = args[name]
  if text == nil then return true, nil end
  local n = tonumber(text)
  if not n or n ~= n or n < low or n == math.huge or (whole and n ~= math.floor(n)) then
    return nil, flag .. " must be " .. (whole and "a whole number" or "a number") .. " >= " .. low
      .. " (got '" .. text .. "')"
  end
  return true, n
end

-- The client's config from the options and the environment. Returns
-- config, timeout | nil, problem (a usage error).
local function client_config(args)
  local key = os.getenv(API_KEY_VARIABLE)
  if not key or key == "" then
    return nil, "set " .. API_KEY_VARIABLE .. " to your API key (dalle takes it from the "
      .. "environment only)"
  end
  local config = { api_key = key, loop = "none" }
  config.base_url = args.base_url
  local callback = args.callback or os.getenv(CALLBACK_VARIABLE)
  if callback and callback ~= "" then config.callback = callback end
  config.callback_listen = args.callback_listen
  config.callback_public_url = args.callback_public_url
  local ok, value = number_option(args, "poll_interval", "--poll-interval", 0)
  if not ok then return nil, value end
  if value then
    config.poll_interval = value
    config.max_poll_interval = math.max(value, 15)
  end
  local timeout
  ok, timeout = number_option(args, "timeout", "--timeout", 0)
  if not ok then return nil, timeout end
  if timeout == 0 then return nil, "--timeout must be more than 0 seconds" end
  return config, timeout
end

-- dalle.new, or the exit code and message of why not.
local function open_client(config)
  local client, err = dalle.new(config)
  if client then return client end
  if err.field == "journal" then return nil, EXIT.usage, err.message end
  return nil, EXIT.usage, tostring(err)
end

local function request_of(args)
  return { prompt = args.prompt, model = args.model, size = args.size, quality = args.quality,
    style = args.style }
end

local function print_json(value)
  io.stdout:write(json.encode(value), "\n")
  io.stdout:flush()
end

local function error_table(err)
  return err and { kind = err.kind, message = err.message, status = err.status } or nil
end

-- An error's exit code: a deadline leaves the job unfinished, anything
-- else failed it.
local function failure_exit(err)
  if err.kind == "invalid" then return EXIT.usage end
  if err.kind == "timeout" then return EXIT.unfinished end
  return EXIT.failed
end

-- ---- the one-job commands ---------------------------------------------------

-- A result's URL worth printing: an inline image's data: URL is not.
local function printable_url(result)
  return result and result.url:sub(1, 5) ~= "data:" and result.url or nil
end

-- How a command that saves one image ends: its path on stdout (or `record`
-- as JSON), or why not on stderr; returns the exit code.
local function report_saved(args, record, saved, path, err)
  if args.json then
    print_json(record)
  elseif saved then
    io.stdout:write(path, "\n")
  end
  if not saved then
    say(tostring(err))
    return failure_exit(err)
  end
  return EXIT.done
end

local function run_generate(args, config, timeout)
  local request = request_of(args)
  local params, verr = dalle.validate(batchfile.checkable(request, config))
  if not params then
    say(verr.message)
    return EXIT.usage
  end
  local path = args.output or batchfile.default_name(params.prompt)
  local client, code, problem = open_client(config)
  if not client then
    say(problem)
    return code
  end
  request.timeout = timeout
  local result, err = client:generate(request)
  local saved
  if result then saved, err = client:download(result, path, { timeout = timeout }) end
  client:close()
  return report_saved(args, { prompt = params.prompt, id = result and result.id,
    status = saved and "succeeded" or "failed", path = saved and path or nil,
    url = printable_url(result), error = error_table(err) }, saved, path, err)
end

local function run_status(args, config)
  local client, code, problem = open_client(config)
  if not client then
    say(problem)
    return code
  end
  local job = client:job(args.id)
  local result, err = job:poll()
  client:close()
  local status = result and "succeeded" or (result == false and "pending")
    or (err.kind == "failed" and "failed") or "unknown"
  if args.json then
    print_json { id = args.id, status = status, service_status = job.service_status,
      url = printable_url(result), error = error_table(err) }
  elseif result then
    io.stdout:write("succeeded ", printable_url(result) or "(inline image)", "\n")
  elseif result == false then
    io.stdout:write("pending", job.service_status and " (" .. job.service_status .. ")" or "", "\n")
  else
    say(tostring(err))
  end
  if result then return EXIT.done end
  if result == false then return EXIT.unfinished end
  return EXIT.failed
end

local function run_wait(args, config, timeout)
  local client, code, problem = open_client(config)
  if not client then
    say(problem)
    return code
  end
  local result, err = client:job(args.id):wait { timeout = timeout }
  local saved
  if result then saved, err = client:download(result, args.output, { timeout = timeout }) end
  client:close()
  return report_saved(args, { id = args.id, status = saved and "succeeded"
    or (err.kind == "timeout" and "pending") or "failed", path = saved and args.output or nil,
    error = error_table(err) }, saved, args.output, err)
end

local function run_validate(args)
  local items, problems = batchfile.read(args.file)
  if not items then
    for _, line in ipairs(problems) do say(line) end
    return EXIT.usage
  end
  say(args.file, ": ", #items, " prompt", #items == 1 and "" or "s", ", all valid")
  return EXIT.done
end

local function run_batch(args, config, timeout)
  local ok, jobs = number_option(args, "jobs", "-j", 1, true)
  if not ok then return nil, jobs end
  jobs = jobs or DEFAULT_PARALLEL
  if jobs > MAX_PARALLEL then return nil, "-j must be at most " .. MAX_PARALLEL end
  local items, problems = batchfile.read(args.file, config)
  if not items then
    for _, line in ipairs(problems) do say(line) end
    say("nothing was sent")
    return EXIT.usage
  end
  local dir = args.output
  if not batchfile.make_directory(dir) then
    say("cannot create the directory '", dir, "'")
    return EXIT.usage
  end
  config.journal = args.journal or (dir .. "/" .. JOURNAL_NAME)
  config.max_transfers = math.max(64, jobs)
  local client, code, problem = open_client(config)
  if not client then
    say(problem)
    return code
  end
  batchfile.remove_partials(dir)
  local batch = require "dalle.cli.batch"
  code = batch.run(client, items, { dir = dir, jobs = jobs, timeout = timeout, json = args.json,
    resubmit_uncertain = args.resubmit_uncertain, journal = config.journal })
  client:close()
  return code
end

local COMMANDS = { generate = run_generate, status = run_status, wait = run_wait,
  batch = run_batch }

local function usage_error(commands, argv, message)
  local command = commands[argv[1]]
  io.stderr:write(command and command:get_usage() or "Usage: dalle [-h] <command> ...", "\n\n",
    "dalle: ", printable(message), " (see dalle ", command and argv[1] .. " " or "", "--help)\n")
  return EXIT.usage
end

-- Lua's own interpreter turns the first Ctrl-C into this error where Lua
-- code runs next (and makes a second one end the process).
local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted!$") ~= nil
end
M.is_interrupt = is_interrupt

local function run(argv)
  local p, commands = parser()
  local ok, args = p:pparse(argv)
  if not ok then return usage_error(commands, argv, args) end
  if args.command == "validate" then return run_validate(args) end
  local config, timeout = client_config(args)
  if not config then return usage_error(commands, argv, timeout) end
  local submits = args.command == "generate" or args.command == "batch"
  if submits and not (config.callback or config.callback_listen or config.callback_public_url) then
    return usage_error(commands, argv, "the service needs a callback URL: --callback URL or $"
      .. CALLBACK_VARIABLE .. " (or --callback-listen for a receiver in dalle)")
  end
  local code, problem = COMMANDS[args.command](args, config, timeout)
  if not code then return usage_error(commands, argv, problem) end
  return code
end

function M.main(argv)
  local args = {}
  for i = 1, #argv do args[i] = argv[i] end
  local ok, code = xpcall(function() return run(args) end, function(err)
    if is_interrupt(err) then return err end
    return debug.traceback(tostring(err), 2)
  end)
  if ok then return code end
  if is_interrupt(code) then
    say("interrupted")
    return EXIT.unfinished
  end
  io.stderr:write("dalle: internal error: ", tostring(code), "\n")
  return EXIT.failed
end

return M
