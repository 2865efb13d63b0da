rockspec_format = "3.0"
package = "lua-dalle"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-dalle/lua-dalle.git",
}
description = {
  summary = "Client for the aiRight DALL-E 2 & 3 image service, with a C core on libcurl",
  detailed = [[
dalle validates, submits, polls, waits for and downloads image jobs without
blocking the caller's loop: inside a coroutine every waiting call yields.
Comes with dalle-mock, an offline aiRight service for tests and demos.
]],
  homepage = "https://github.com/lua-dalle/lua-dalle",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
  "argparse",
}
external_dependencies = {
  CURL = { library = "curl" },
  -- The callback receiver (src/receiver.c) is in dalle.core.
  MICROHTTPD = { header = "microhttpd.h", library = "microhttpd" },
}
build = {
  type = "builtin",
  modules = {
    ["dalle"] = "lua/dalle/init.lua",
    ["dalle.client"] = "lua/dalle/client.lua",
    ["dalle.config"] = "lua/dalle/config.lua",
    ["dalle.job"] = "lua/dalle/job.lua",
    ["dalle.waits"] = "lua/dalle/waits.lua",
    ["dalle.exchange"] = "lua/dalle/exchange.lua",
    ["dalle.hosts"] = "lua/dalle/hosts.lua",
    ["dalle.copas"] = "lua/dalle/copas.lua",
    ["dalle.cqueues"] = "lua/dalle/cqueues.lua",
    ["dalle.luv"] = "lua/dalle/luv.lua",
    ["dalle.nvim"] = "lua/dalle/nvim.lua",
    ["dalle.ngx"] = "lua/dalle/ngx.lua",
    ["dalle.haproxy"] = "lua/dalle/haproxy.lua",
    ["dalle.errors"] = "lua/dalle/errors.lua",
    ["dalle.record"] = "lua/dalle/record.lua",
    ["dalle.response"] = "lua/dalle/response.lua",
    ["dalle.journal"] = "lua/dalle/journal.lua",
    ["dalle.cli"] = "lua/dalle/cli/init.lua",
    ["dalle.cli.batch"] = "lua/dalle/cli/batch.lua",
    ["dalle.cli.batchfile"] = "lua/dalle/cli/batchfile.lua",
    ["dalle.cli.report"] = "lua/dalle/cli/report.lua",
    ["dalle.callbacks"] = "lua/dalle/callbacks.lua",
    ["dalle.core"] = {
      sources = { "src/core.c", "src/rules.c", "src/transport.c", "src/poller.c", "src/schedule.c",
        "src/image_file.c", "src/base64.c", "src/append_file.c", "src/callbacks.c",
        "src/receiver.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "curl", "microhttpd" },
      incdirs = { "$(CURL_INCDIR)", "$(MICROHTTPD_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(MICROHTTPD_LIBDIR)" },
    },
  },
  install = {
    bin = { dalle = "bin/dalle" },
  },
}
