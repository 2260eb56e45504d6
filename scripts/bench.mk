# scripts/bench.mk — benchmarks, included by the Makefile (-include scripts/bench.mk).
#   make bench        scripts/bench.sh: chatd (-O2) beside nginx and Redis on loopback; one
#                     table on stdout, JSON in build/bench.json; results: scripts/BENCH.md
#   make bench-tools  the load tools: build/bench/postload, wsload, psload, disk_ceiling, and
#                     loggen (writes a data dir of N users / M messages with chatd's own codec)
#   make bench-deps   apt-get update, then install what bench.sh runs (wrk, nginx-light, redis-server, ...)
# Knobs (environment or make variables): BENCH_SECONDS, BENCH_CONNS, BENCH_MESSAGES,
# BENCH_IDLE, BENCH_WS_CLIENTS, BENCH_WS_RATE, BENCH_REDIS_N, BENCH_BODY, BENCH_INBOX_CONVS,
# BENCH_INBOX_MSGS, BENCH_BURST_USERS, BENCH_SCALE_SUBS, BENCH_SCALE_DELIVERIES (see bench.sh);
# QUICK=1: a shorter run for iterating (under 90 s).

BENCH_DIR   := build/bench
BENCH_TOOLS := $(BENCH_DIR)/postload $(BENCH_DIR)/wsload $(BENCH_DIR)/psload $(BENCH_DIR)/disk_ceiling \
               $(BENCH_DIR)/loggen
BENCH_CC    ?= $(CC)

.PHONY: bench bench-tools bench-deps

bench-tools: $(BENCH_TOOLS)

$(BENCH_DIR)/postload $(BENCH_DIR)/wsload $(BENCH_DIR)/psload $(BENCH_DIR)/disk_ceiling: $(BENCH_DIR)/%: scripts/%.c | $(BENCH_DIR)
	$(BENCH_CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<

# loggen links chatd's record codec and framing (and what they need) from the sources
LOGGEN_SRCS := src/rec.c src/store.c src/cache.c src/crc32c.c src/buf.c src/crypto.c
$(BENCH_DIR)/loggen: scripts/loggen.c $(LOGGEN_SRCS) src/*.h | $(BENCH_DIR)
	$(BENCH_CC) $(CFLAGS_BASE) -O2 -Isrc -o $@ scripts/loggen.c $(LOGGEN_SRCS)

$(BENCH_DIR):
	mkdir -p $@

# chatd-static (for its size and idle RSS) only where its compiler (musl-gcc) is installed
bench: chatd $(if $(shell command -v $(or $(STATIC_CC),musl-gcc) 2>/dev/null),chatd-static) $(BENCH_TOOLS)
	QUICK=$(QUICK) BENCH_TOOLS=$(BENCH_DIR) CHATD=./chatd CHATD_STATIC=./chatd-static BENCH_OUT=build/bench.json scripts/bench.sh

bench-deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y wrk nginx-light redis-server mosquitto curl python3 util-linux
