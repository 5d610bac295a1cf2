# devtrust: GNU Make with pkg-config. `make help` lists the targets.
CC ?= cc
BUILD ?= build
PKGS := openssl sqlite3 jansson libevent libevent_openssl libevent_pthreads libseccomp
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
UI_FILES := $(sort $(wildcard ui/*))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/ui_files.o
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

# The device build (make agent-device): the same agent sources, -Os, linked
# against a static HTTPS-only libcurl built from Debian's curl source package
# (scripts/build-device-curl.sh, cached in DEVICE_CURL) and the system's shared
# OpenSSL, as Buildroot and Yocto devices have it (docs/DECISIONS.md).
DEVICE_CURL ?= $(BUILD)/device-curl
DEVICE_CURL_A := $(DEVICE_CURL)/prefix/lib/libcurl.a
DEVICE_OPT ?= -Os -g
DEVICE_OBJ := $(patsubst %.c,$(BUILD)/device/%.o,$(sort $(wildcard src/agent/*.c)))
DEVICE_BIN := $(BUILD)/devtrust-agent-device
DEVICE_CFLAGS = $(BASE_CFLAGS) $(DEVICE_OPT) -ffunction-sections -fdata-sections \
	-I$(DEVICE_CURL)/prefix/include $(shell pkg-config --cflags openssl 2>/dev/null) \
	$(EXTRA_CFLAGS) $(CFLAGS)

UNIT_SRC := $(sort $(wildcard tests/unit/*_test.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

DATA ?= ./devtrust-data

.PHONY: all deps test unit integration lint asan fuzz bench run clean help agent-device test-device

all: $(BIN) $(AGENT_BIN)

$(DEPS_OK): scripts/deps.sh
	@scripts/deps.sh build
	@mkdir -p $(BUILD) && touch $@

deps: $(DEPS_OK)

$(BUILD)/%.o: %.c $(DEPS_OK) $(filter-out src/agent/%,$(wildcard include/devtrust/*.h src/*/*.h))
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

# The dashboard's files, compiled in (scripts/embed-ui.sh).
$(BUILD)/gen/ui_files.c: scripts/embed-ui.sh $(UI_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@scripts/embed-ui.sh $@ $(UI_FILES)

$(BUILD)/gen/ui_files.o: $(BUILD)/gen/ui_files.c src/http/ui_files.h
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
	@$(CC) $(ALL_CFLAGS) -o $@ $(BUILD)/src/agent/main.o $(AGENT_LIB) $(AGENT_LIBS) \
		-Wl,--export-dynamic-symbol=_gnutls_global_init_skip

$(DEVICE_CURL_A): scripts/build-device-curl.sh
	@scripts/build-device-curl.sh $(DEVICE_CURL)

$(BUILD)/device/src/agent/%.o: src/agent/%.c src/agent/agent.h $(DEVICE_CURL_A) $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  CC $< (device)"
	@$(CC) $(DEVICE_CFLAGS) -c $< -o $@

$(DEVICE_BIN): $(DEVICE_OBJ) $(DEVICE_CURL_A)
	@echo "  LD $@"
	@$(CC) $(DEVICE_CFLAGS) -o $@ $(DEVICE_OBJ) $(DEVICE_CURL_A) \
		$(shell pkg-config --libs openssl 2>/dev/null) -lpthread -Wl,--gc-sections $(EXTRA_LDFLAGS)

# The script runs every time: it rebuilds libcurl when Debian's curl changed.
agent-device: $(DEPS_OK)
	@scripts/build-device-curl.sh $(DEVICE_CURL)
	@$(MAKE) --no-print-directory $(DEVICE_BIN)

# The agent's end-to-end test (tests/integration/agent_test.sh) on the device build.
test-device: $(DEPS_OK)
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory $(BIN) agent-device
	@! ldd $(DEVICE_BIN) | grep -E 'libcurl|libgnutls|libnghttp2|libidn2|libpsl|libz' || \
		{ echo "test-device: $(DEVICE_BIN) loads a shared libcurl or its libraries" >&2 && exit 1; }
	@mkdir -p $(BUILD)/test-logs
	@DEVTRUST_BIN=$(CURDIR)/$(BIN) DEVTRUST_AGENT_BIN=$(CURDIR)/$(DEVICE_BIN) \
		timeout 1200 bash tests/integration/agent_test.sh >$(BUILD)/test-logs/agent_device_test.log 2>&1; \
		rc=$$?; p=$$(grep -ac '^PASS ' $(BUILD)/test-logs/agent_device_test.log); \
		f=$$(grep -ac '^FAIL ' $(BUILD)/test-logs/agent_device_test.log); \
		if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then f=1; fi; \
		grep -a '^FAIL ' $(BUILD)/test-logs/agent_device_test.log | head -5; \
		echo "agent_test.sh with $(DEVICE_BIN): $$p passed, $$f failed (log: $(BUILD)/test-logs/agent_device_test.log)"; \
		[ $$f -eq 0 ]

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
	@echo "make agent-device  $(BUILD)/devtrust-agent-device: the agent on a static HTTPS-only libcurl"
	@echo "make test-device   the agent's end-to-end test on that device build"
