# lua-dalle: `make` builds the Lua core and dalle-mock; `make demo` and
# `make test` also install what they need on Debian/Ubuntu (as root).

LUA         ?= lua5.4
LUA_PKG     ?= $(LUA)
CC          ?= cc
CFLAGS      ?= -O2 -g
WARNINGS    := -Wall -Wextra
STD         := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LUA_CFLAGS  := $(shell pkg-config --cflags $(LUA_PKG) 2>/dev/null)
CURL_FLAGS  := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
MHD_FLAGS   := $(shell pkg-config --cflags --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

CORE_SRC    := src/core.c src/rules.c src/transport.c src/schedule.c
CORE_HDR    := src/compat.h src/rules.h src/transport.h src/schedule.h
MOCK_SRC    := $(wildcard src/mock/*.c) src/rules.c
MOCK_HDR    := $(wildcard src/mock/*.h) src/rules.h

BUILD       ?= build
CORE        := $(BUILD)/dalle/core.so
MOCK        := $(BUILD)/dalle-mock

SANITIZE    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_LIB     = $(shell $(CC) -print-file-name=libasan.so)
VALGRIND    := valgrind --quiet --error-exitcode=99 --leak-check=full \
               --errors-for-leak-kinds=definite --show-leak-kinds=definite

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all deps test demo lint format clean check-asan check-valgrind

all: $(CORE) $(MOCK)

$(CORE): $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARNINGS) $(CFLAGS) -fPIC -shared $(LUA_CFLAGS) $(CURL_FLAGS) \
		$(CORE_SRC) -o $@ $(CURL_LIBS) -lm

$(MOCK): $(MOCK_SRC) $(MOCK_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARNINGS) $(CFLAGS) $(MOCK_SRC) -o $@ $(MHD_FLAGS) $(CURL_LIBS) -lpthread

deps:
	@scripts/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-specs.sh $(LUA)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(LUA)

# The whole spec with the core and dalle-mock built with ASan and UBSan. The
# Lua interpreter is not instrumented, so the runtime is preloaded into it;
# every report lands in $(BUILD)/asan/report.* and fails the run.
check-asan: deps
	@$(MAKE) --no-print-directory all BUILD=build/asan CFLAGS="$(SANITIZE)"
	@rm -f build/asan/report.*
	@DALLE_BUILD=build/asan LD_PRELOAD=$(ASAN_LIB) \
		ASAN_OPTIONS=log_path=$(CURDIR)/build/asan/report:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build/asan/report \
		scripts/run-specs.sh $(LUA)
	@if ls build/asan/report.* >/dev/null 2>&1; then cat build/asan/report.*; \
		echo "check-asan: sanitizer reports above"; exit 1; fi
	@echo "check-asan: no reports"

# The whole spec with the Lua process (and so the core) under valgrind.
check-valgrind: deps
	@$(MAKE) --no-print-directory all
	@DALLE_SLOW=1 scripts/run-specs.sh "$(VALGRIND) $(LUA)"

lint:
	luacheck lua spec examples

format:
	clang-format -i src/*.c src/*.h src/mock/*.c src/mock/*.h

clean:
	rm -rf build demo-out
