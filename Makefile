# devtrust: GNU Make with pkg-config. `make help` lists the targets.
CC ?= cc
BUILD ?= build
PKGS := openssl sqlite3 jansson libevent libevent_openssl libevent_pthreads
DEPS_OK := $(BUILD)/.deps-ok

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wvla
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE $(WARN) -Iinclude -Isrc -fPIC
OPT ?= -O2 -g
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(BASE_CFLAGS) $(OPT) $(PKG_CFLAGS) $(EXTRA_CFLAGS) $(CFLAGS)
LIBS = $(PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)

LIB_SRC := $(sort $(filter-out src/cli/% src/agent/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libdevtrust.a
BIN := $(BUILD)/devtrust

# devtrust-agent links only OpenSSL and libcurl (no libdevtrust); its objects
# but main.o form libdtagent.a for the fuzz harnesses and unit tests.
AGENT_PKGS := openssl libcurl
AGENT_SRC := $(sort $(filter-out src/agent/main.c,$(wildcard src/agent/*.c)))
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/%.o)
AGENT_LIB := $(BUILD)/libdtagent.a
AGENT_BIN := $(BUILD)/devtrust-agent
AGENT_LIBS = $(shell pkg-config --libs $(AGENT_PKGS) 2>/dev/null) $(EXTRA_LDFLAGS)
$(AGENT_OBJ) $(BUILD)/src/agent/main.o: PKG_CFLAGS = $(shell pkg-config --cflags $(AGENT_PKGS) 2>/dev/null)
$(AGENT_OBJ) $(BUILD)/src/agent/main.o: src/agent/agent.h

UNIT_SRC := $(sort $(wildcard tests/unit/*_test.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

DATA ?= ./devtrust-data

.PHONY: all deps test unit integration lint asan fuzz bench run clean help

all: $(BIN) $(AGENT_BIN)

$(DEPS_OK): scripts/deps.sh
	@scripts/deps.sh build
	@mkdir -p $(BUILD) && touch $@

deps: $(DEPS_OK)

$(BUILD)/%.o: %.c $(DEPS_OK) $(filter-out src/agent/%,$(wildcard include/devtrust/*.h src/*/*.h))
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR $@"
	@ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@echo "  LD $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS)

$(AGENT_LIB): $(AGENT_OBJ)
	@rm -f $@
	@echo "  AR $@"
	@ar rcs $@ $^

$(AGENT_BIN): $(BUILD)/src/agent/main.o $(AGENT_LIB)
	@echo "  LD $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $(BUILD)/src/agent/main.o $(AGENT_LIB) $(AGENT_LIBS)

# Agent unit tests link the agent's library, not libdevtrust.
$(BUILD)/tests/agent_%_test: tests/unit/agent_%_test.c $(AGENT_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(AGENT_LIB) $(AGENT_LIBS) -lcmocka

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LIBS) -lcmocka

# make test: install test dependencies, build, run every suite, print one summary line.
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@BUILD=$(BUILD) scripts/run-tests.sh

unit: all $(UNIT_BIN)
	@BUILD=$(BUILD) SUITES=unit scripts/run-tests.sh

integration: all
	@BUILD=$(BUILD) SUITES=integration scripts/run-tests.sh

lint:
	@BUILD=$(BUILD) SUITES=lint scripts/run-tests.sh

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
		OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" all \
		$(UNIT_BIN:$(BUILD)/%=build-asan/%)
	@BUILD=build-asan SANITIZED=1 scripts/run-tests.sh

fuzz:
	@scripts/deps.sh test
	@scripts/fuzz.sh $${FUZZ_SECONDS:-60}

bench: all
	@scripts/deps.sh bench
	@BUILD=$(BUILD) bench/run.sh

# make run: build, create the data dir on first run, start the server.
run: all
	@BUILD=$(BUILD) DATA=$(DATA) scripts/run.sh

clean:
	rm -rf build build-asan build-fuzz

help:
	@echo "make          build build/devtrust"
	@echo "make run      build, init $(DATA) on first run, start devtrust serve"
	@echo "make test     install test deps, build, run unit + integration + lint"
	@echo "make asan     the whole suite under ASan+UBSan"
	@echo "make fuzz     each libFuzzer harness for FUZZ_SECONDS (default 60)"
	@echo "make bench    benchmarks against their bounds and peers"
