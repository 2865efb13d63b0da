# lua-dalle: `make` builds the Lua core (for lua5.4) and dalle-mock;
# `make demo` and `make test` also install what they need on Debian/Ubuntu
# (as root). `make test LUA=lua5.1` runs the specs on one interpreter only.

LUAS_ALL    := lua5.1 lua5.2 lua5.3 lua5.4 luajit
DEFAULT_LUA := lua5.4
LUA         ?=
# The interpreters the specs run on: LUA, or every one installed.
TEST_LUAS    = $(or $(LUA),$(foreach l,$(LUAS_ALL),$(if $(shell command -v $(l) 2>/dev/null),$(l))))

CC          ?= cc
CFLAGS      ?= -O2 -g
WARNINGS    := -Wall -Wextra
STD         := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
CURL_FLAGS  := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
MHD_FLAGS   := $(shell pkg-config --cflags --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

CORE_SRC    := src/core.c src/rules.c src/transport.c src/poller.c src/schedule.c \
               src/image_file.c src/base64.c src/append_file.c src/callbacks.c src/receiver.c
CORE_HDR    := src/compat.h src/rules.h src/transport.h src/poller.h src/schedule.h \
               src/image_file.h src/base64.h src/append_file.h src/callbacks.h src/receiver.h
MOCK_SRC    := $(wildcard src/mock/*.c) src/rules.c
MOCK_HDR    := $(wildcard src/mock/*.h) src/rules.h

# build/dalle/core.so is for lua5.4; build/LUA/dalle/core.so for each LUA.
BUILD       ?= build
CORE        := $(BUILD)/dalle/core.so
MOCK        := $(BUILD)/dalle-mock
CORES        = $(foreach l,$(TEST_LUAS),$(BUILD)/$(l)/dalle/core.so)

SANITIZE    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_LIB     = $(shell $(CC) -print-file-name=libasan.so)
VALGRIND    := valgrind --quiet --error-exitcode=99 --leak-check=full \
               --errors-for-leak-kinds=definite --show-leak-kinds=definite

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all cores deps test demo lint rock-check format clean check-asan check-valgrind \
	check-fallback check-hosts deps-hosts fuzz bench bench-smoke

all: $(CORE) $(MOCK)

cores: $(CORES)

$(CORE): $(BUILD)/$(DEFAULT_LUA)/dalle/core.so
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/%/dalle/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARNINGS) $(CFLAGS) -fPIC -shared $$(pkg-config --cflags $*) \
		$(CURL_FLAGS) $(CORE_SRC) -o $@ $(CURL_LIBS) $(MHD_FLAGS) -lm

$(MOCK): $(MOCK_SRC) $(MOCK_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARNINGS) $(CFLAGS) $(MOCK_SRC) -o $@ $(MHD_FLAGS) $(CURL_LIBS) -lz -lpthread

deps:
	@scripts/install-deps.sh

# deps, and the apps that embed Lua that spec/hosts/ runs (nginx, HAProxy,
# Neovim, LÖVE, mpv, Prosody); without them those specs are skipped.
deps-hosts:
	@scripts/install-deps.sh --hosts

test: deps-hosts
	@$(MAKE) --no-print-directory all cores
	@scripts/run-specs.sh $(TEST_LUAS)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(or $(LUA),$(DEFAULT_LUA))

# The whole spec with the core and dalle-mock built with ASan and UBSan. The
# Lua interpreter is not instrumented, so the runtime is preloaded into it;
# every report lands in build/asan/report.* and fails the run (except one
# crash of LeakSanitizer itself, retried once: see scripts/check-asan.sh).
check-asan: deps
	@$(MAKE) --no-print-directory all cores BUILD=build/asan CFLAGS="$(SANITIZE)" LUA=$(or $(LUA),$(DEFAULT_LUA))
	@DALLE_BUILD=build/asan DALLE_INSTRUMENTED=asan DALLE_PRELOAD=$(ASAN_LIB) \
		ASAN_OPTIONS=log_path=$(CURDIR)/build/asan/report:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build/asan/report \
		scripts/check-asan.sh $(or $(LUA),$(DEFAULT_LUA))

# The poll() fallback that systems without epoll build (src/poller.h), built
# and run against the whole spec here, where epoll exists.
check-fallback: deps
	@$(MAKE) --no-print-directory all cores BUILD=build/fallback \
		CFLAGS="$(CFLAGS) -DDALLE_POLL_FALLBACK" LUA=$(or $(LUA),$(DEFAULT_LUA))
	@DALLE_BUILD=build/fallback scripts/run-specs.sh $(or $(LUA),$(DEFAULT_LUA))

# The whole spec with the Lua process (and so the core) under valgrind.
check-valgrind: deps
	@$(MAKE) --no-print-directory all cores LUA=$(or $(LUA),$(DEFAULT_LUA))
	@DALLE_INSTRUMENTED=valgrind DALLE_WRAP="$(VALGRIND)" \
		scripts/run-specs.sh $(or $(LUA),$(DEFAULT_LUA))

# The specs that run lua-dalle inside the apps that embed Lua (spec/hosts/),
# alone: each host is its own process with its own Lua, against dalle-mock.
check-hosts: deps-hosts
	@$(MAKE) --no-print-directory all cores
	@DALLE_SPEC_ROOT=spec/hosts scripts/run-specs.sh lua5.4

# luarocks lint, then `luarocks make` into a fresh tree for lua5.1 and lua5.4
# and a generate against dalle-mock with only that tree on the paths.
rock-check: deps
	@$(MAKE) --no-print-directory all
	luarocks lint lua-dalle-scm-1.rockspec
	@scripts/rock-check.sh 5.1
	@scripts/rock-check.sh 5.4

# libFuzzer harnesses for every C function that reads outside input, each
# run FUZZ_SECONDS from its committed seed corpus in fuzz/corpus/.
FUZZ_SECONDS ?= 20
fuzz: deps
	@fuzz/run.sh $(FUZZ_SECONDS)

# The benchmark tables of bench/README.md (BENCH_JOBS jobs per client row,
# and a row per app of spec/hosts/ that is installed), and a run of every
# row with a few jobs that fails if any row fails; it installs the apps
# first, so that CI runs their rows too.
BENCH_JOBS ?= 5000
bench: deps
	@bench/run.sh --jobs $(BENCH_JOBS)

bench-smoke: deps-hosts
	@bench/run.sh --smoke

lint:
	luacheck lua spec examples bench bin/dalle .busted

format:
	clang-format -i src/*.c src/*.h src/mock/*.c src/mock/*.h fuzz/*.c

clean:
	rm -rf build demo-out
