-- TLS is always verified: a server whose certificate is not trusted is
-- refused, and ca_file is how a caller trusts one. The server is a real
-- `openssl s_server` on loopback with a certificate made for the run.
local helper = require "helper"
local dalle = require "dalle"

describe("TLS", function()
  local dir, server_pid, base

  setup(function()
    dir = helper.tmpdir()
    assert(helper.run_ok("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
      .. " -addext subjectAltName=IP:127.0.0.1 -keyout " .. dir .. "/key.pem -out " .. dir
      .. "/cert.pem >/dev/null 2>&1"))
    local port = helper.closed_port()
    base = "https://127.0.0.1:" .. port
    server_pid = helper.capture("openssl s_server -quiet -www -accept 127.0.0.1:" .. port
      .. " -cert " .. dir .. "/cert.pem -key " .. dir .. "/key.pem >/dev/null 2>&1 & echo $!")
      :match("%d+")
    for _ = 1, 100 do
      if helper.run_ok("curl -sk -o /dev/null " .. base .. "/") then break end
      helper.sleep(0.05)
    end
  end)
  teardown(function()
    helper.run_ok("kill " .. server_pid)
    helper.rmdir(dir)
  end)

  it("refuses a server whose certificate is not trusted", function()
    local client = assert(dalle.new { api_key = "k", base_url = base, max_retries = 0 })
    local result, err = client:job("abc"):poll()
    assert.is_nil(result)
    assert.equals("network", err.kind)
    assert.matches("certificate", err.message)
    client:close()
  end)

  it("trusts the certificate given as ca_file", function()
    local client = assert(dalle.new { api_key = "k", base_url = base, max_retries = 0,
      ca_file = dir .. "/cert.pem" })
    -- The handshake succeeds; s_server then answers with an HTML page.
    local result, err = client:job("abc"):poll()
    assert.is_nil(result)
    assert.equals("decode", err.kind)
    client:close()
  end)

  it("has no option that turns verification off", function()
    for _, key in ipairs { "insecure", "verify", "ssl_verify", "tls_verify", "verify_peer" } do
      local client, err = dalle.new { api_key = "k", base_url = base, [key] = false }
      assert.is_nil(client)
      assert.matches("unknown config option", err.message)
    end
  end)
end)
