# chatd — build, run and test. `make` builds ./chatd; `make test` runs every test (plain
# build, then the same suites under ASan+UBSan); `make run` starts the server on :8000.
CC      ?= cc
PREFIX  ?= /usr/local
PORT    ?= 8000
DATA    ?= ./data
VERSION := 0.1.0

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
               -DCHATD_VERSION=\"$(VERSION)\" -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -g
LDLIBS  := -lpthread

ifeq ($(SAN),1)
BUILD   := build/san
CFLAGS  := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS := -fsanitize=address,undefined
BIN     := $(BUILD)/chatd
else
BUILD   := build/rel
CFLAGS  := $(CFLAGS_BASE) $(or $(OPT),-O2)
LDFLAGS :=
BIN     := chatd
endif

# Optional TLS with the system's mbedtls: ./chatd-tls, objects in build/tls.
ifeq ($(TLS),1)
BUILD   := build/tls
CFLAGS  += -DCHATD_TLS
LDLIBS  += -lmbedtls -lmbedx509 -lmbedcrypto
BIN     := chatd-tls
endif

SRCS := $(wildcard src/*.c)
OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS))
ifeq ($(TLS),1)
# Only the files that test CHATD_TLS are compiled again; the others are the -O2 build's objects
# (same flags): the TLS build is the fourth build of every make test.
TLS_SRCS := $(shell grep -l CHATD_TLS $(SRCS))
OBJS := $(patsubst src/%.c,build/rel/%.o,$(filter-out $(TLS_SRCS),$(SRCS))) $(patsubst src/%.c,$(BUILD)/%.o,$(TLS_SRCS))
endif
LIB_OBJS := $(filter-out $(BUILD)/main.o,$(OBJS))

# Each unit test links only the modules it tests (and names only the record fields it needs).
UNIT_crypto := crypto
UNIT_json   := json buf
UNIT_http   := http buf
UNIT_store  := store cache crc32c buf
UNIT_cache  := cache buf
UNIT_rec    := rec store cache crc32c buf
UNIT_db     := db rec map store cache crc32c buf
UNIT_views  := views json db rec map store cache crc32c buf
UNIT_policy := policy db rec map store cache crc32c buf
UNIT_ws     := ws crypto json buf
UNIT_router := router request respond views policy db rec map store cache crc32c buf http json auth crypto
UNITS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst %,$(BUILD)/test_%,$(UNITS))

.PHONY: all run test test-one test-tls clang-check unit layers size shell clean soak valgrind powercut deps apidoc
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c src/*.h | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@
ifeq ($(TLS),1)
build/rel/%.o: src/%.c src/*.h | build/rel
	$(CC) $(filter-out -DCHATD_TLS,$(CFLAGS)) -c -o $@ $<
build/rel:
	mkdir -p $@
build/rel/rec.o: CFLAGS += -Wconversion
endif

# The record codec: every narrowing on the way to or from the disk must be written out.
$(BUILD)/rec.o: CFLAGS += -Wconversion

.SECONDEXPANSION:
$(BUILD)/test_%: tests/unit/test_%.c tests/unit/t.h $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(UNIT_$$*))) | $(BUILD)
	$(CC) $(CFLAGS) -Wno-missing-field-initializers -Isrc $(LDFLAGS) -o $@ $< $(addprefix $(BUILD)/,$(addsuffix .o,$(UNIT_$*))) $(LDLIBS)

run: $(BIN)
	./$(BIN) --port $(PORT) --data-dir $(DATA)

# No file calls or includes a file of a layer above its own (the list: src/README.md).
layers: $(BIN)
	bash scripts/layers.sh $(BUILD)

# The design card's size rules: src/ within 7,500 lines, no file over 600, no line over 110.
size:
	bash scripts/size.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

shell: $(BIN)
	@CHATD=$(abspath $(BIN)) tests/run.sh

test-one: unit shell

# Everything, as CI runs it: gcc build + unit + shell tests, a clang -Werror build, the same tests
# under ASan+UBSan, the deployment builds (static, ARM under qemu) and their tests, TLS, fuzz seeds.
# scripts/test.sh prints each step (and each shell test file) as it finishes and a final total.
test:
	@scripts/test.sh

# Everything `make test` needs, on Debian as root (`.ci/run` uses it too): the package lists
# first, then compilers (gcc, clang with its sanitizer/fuzzer runtimes, musl, ARM cross gcc and
# qemu-user to run their output), mbedtls for the TLS build, the test clients (curl, jq, python3
# with websockets, openssl for t_tls), and for the web client's browser test chromium + node
# with the npm modules of tests/web (once that directory exists).
DEPS_APT := build-essential clang libclang-rt-dev musl-tools qemu-user-static \
            gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross \
            libmbedtls-dev openssl curl jq python3 python3-websockets ca-certificates file util-linux \
            chromium nodejs
# npm only where no npm is there yet: NodeSource's nodejs package carries its own npm and conflicts
# with Debian's npm package (installing both fails).
deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS_APT)
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
	@if [ -f tests/web/package.json ]; then \
	    echo "cd tests/web && npm install --no-package-lock --no-audit --no-fund"; \
	    cd tests/web && npm install --no-package-lock --no-audit --no-fund; fi

# Rewrite the answers shown in docs/API.md from a fresh server (after a deliberate API change;
# review `git diff docs/API.md`). tests/t_docs.sh checks them in every `make test`.
apidoc: $(BIN)
	@d=$$(mktemp -d); ./$(BIN) --bind 127.0.0.1 --port 0 --data-dir $$d --fsync never \
	    --pbkdf2-iters 1000 2>$$d.log & pid=$$!; n=0; \
	until p=$$(sed -nE 's/.*listening on [^ ]*:([0-9]+).*/\1/p' $$d.log) && [ -n "$$p" ]; do \
	    n=$$((n + 1)); [ $$n -gt 100 ] && { cat $$d.log; kill $$pid; exit 1; }; sleep 0.1; done; \
	scripts/apidoc.py update http://127.0.0.1:$$p; rc=$$?; kill $$pid; wait $$pid; rm -rf $$d $$d.log; exit $$rc

# Long versions of the reliability tests: many kill points; the shell tests under valgrind.
soak: $(BIN)
	scripts/soak.sh -n $(or $(N),50) --chatd $(abspath $(BIN))

# The full power-cut exploration: tests/t_powercut.sh with 300 crash points (make test runs 20).
powercut: $(BIN)
	POINTS=$(or $(N),300) PLANT_POINTS=40 SECONDS_RUN=10 MAX_ACKS=6000 PER_TEST_TIMEOUT=3600 VERBOSE=1 \
	    CHATD=$(abspath $(BIN)) tests/run.sh t_powercut

valgrind: $(BIN)
	scripts/valgrind.sh --chatd $(abspath $(BIN))

# The TLS build (needs libmbedtls-dev) and its test.
test-tls:
	$(MAKE) TLS=1
	CHATD=$(abspath chatd-tls) CHATD_TLS=$(abspath chatd-tls) tests/run.sh t_tls

clean:
	rm -rf build chatd chatd-*

# clang's -Werror check (make test): clang warns from its front end, so checking every file
# without generating code finds what a clang build would, for a third of the CPU.
clang-check: $(WEB_ASSETS)
	clang $(CFLAGS_BASE) -fsyntax-only $(filter-out src/rec.c,$(SRCS))
	clang $(CFLAGS_BASE) -Wconversion -fsyntax-only src/rec.c

# Deployment builds (static, cross, container checks) and fuzzing live in their own files.
-include scripts/deploy.mk
-include tests/fuzz/fuzz.mk
-include scripts/bench.mk

# The web client (src/web/*) compiled into C by scripts/webgen.sh; src/web.c includes it, so
# every build of web.o (plain, clang, sanitizers, TLS, static, cross) waits for it.
WEB_FILES  := $(sort $(wildcard src/web/*.html src/web/*.css src/web/*.js src/web/*.svg))
WEB_ASSETS := build/web/web_assets.c
$(WEB_ASSETS): scripts/webgen.sh $(WEB_FILES)
	@mkdir -p $(@D)
	scripts/webgen.sh $@ $(WEB_FILES)
$(BUILD)/web.o $(STATIC_BUILD)/web.o $(foreach a,$(CROSS_ARCHES),build/cross-$(a)/web.o): $(WEB_ASSETS)
