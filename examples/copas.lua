-- Generates three images inside copas while the same loop serves a small
-- TCP echo service: only the threads that wait for images wait.
--   make && scripts/with-mock.sh lua5.1 examples/copas.lua
-- (Debian packages copas for Lua 5.1 and 5.2.)
local copas = require "copas"
local socket = require "socket"
local dalle = require "dalle"

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
assert(require("dalle.copas").use(client))

-- The loop's other work: an echo service on a free loopback port.
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local echoed = 0
copas.addserver(server, function(conn)
  conn = copas.wrap(conn)
  local line = conn:receive("*l")
  while line do
    echoed = echoed + 1
    conn:send(line .. "\n")
    line = conn:receive("*l")
  end
end)
print("echo service on 127.0.0.1:" .. port)

local pending = 3
for i, prompt in ipairs { "a red kite", "a blue whale", "a green comet" } do
  copas.addthread(function()
    local result, err = client:generate { prompt = prompt, timeout = 120 }
    print(i, result and result.url or tostring(err))
    pending = pending - 1
    if pending == 0 then client:close() end
  end)
end
-- A client of the echo service, chatting while the images are made.
copas.addthread(function()
  local tcp = socket.tcp()
  assert(copas.connect(tcp, "127.0.0.1", port))
  local conn = copas.wrap(tcp)
  while pending > 0 do
    conn:send("hello\n")
    conn:receive("*l")
  end
  tcp:close()
end)

while pending > 0 do copas.step(1) end
server:close()
print("the echo service answered " .. echoed .. " lines meanwhile")
