# tests/fuzz/fuzz.mk — libFuzzer harnesses (clang, ASan+UBSan), included by the Makefile.
#   make fuzz          build, then fuzz each harness FUZZ_SECONDS (60) on build/fuzz/corpus-<name>
#   make fuzz-ci       the same, 30 s each
#   make fuzz-regress  run each harness once over every file of its seed corpus (fast; for `make test`)
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_CFLAGS  := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all \
                -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZERS      := http json ws store rec
FUZZ_http    := http buf
FUZZ_json    := json buf
FUZZ_ws      := ws crypto json buf
FUZZ_store   := store cache db rec map crc32c buf
FUZZ_rec     := rec store cache crc32c buf
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZERS))

.PHONY: fuzz fuzz-ci fuzz-regress fuzz-build
.PRECIOUS: $(FUZZ_DIR)/obj/%.o
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: src/%.c src/*.h | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c src/*.h $$(addprefix $(FUZZ_DIR)/obj/,$$(addsuffix .o,$$(FUZZ_$$*))) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc $(FUZZ_LDFLAGS) -o $@ $< $(addprefix $(FUZZ_DIR)/obj/,$(addsuffix .o,$(FUZZ_$*)))

$(FUZZ_DIR)/obj:
	mkdir -p $@

# The seeds are copied next to the binaries, so what the fuzzer finds never lands in the repo.
# Full output goes to build/fuzz/fuzz_<name>.log; a crash input to build/fuzz/crash-<name>-*.
fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p $(FUZZ_DIR)/corpus-$$f; cp tests/fuzz/corpus/$$f/* $(FUZZ_DIR)/corpus-$$f/; \
	  echo "== fuzz_$$f: $(FUZZ_SECONDS) s"; \
	  if ! $(FUZZ_DIR)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_DIR)/crash-$$f- $(FUZZ_DIR)/corpus-$$f >$(FUZZ_DIR)/fuzz_$$f.log 2>&1; then \
	    tail -n 60 $(FUZZ_DIR)/fuzz_$$f.log; echo "fuzz_$$f FAILED (log: $(FUZZ_DIR)/fuzz_$$f.log)"; exit 1; fi; \
	  grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units' $(FUZZ_DIR)/fuzz_$$f.log; \
	done

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=30

fuzz-regress: $(FUZZ_BINS)
	@set -e; for f in $(FUZZERS); do \
	  if ! $(FUZZ_DIR)/fuzz_$$f tests/fuzz/corpus/$$f/* >$(FUZZ_DIR)/regress_$$f.log 2>&1; then \
	    tail -n 60 $(FUZZ_DIR)/regress_$$f.log; echo "fuzz_$$f: regression FAILED"; exit 1; fi; \
	  echo "fuzz_$$f: $$(ls tests/fuzz/corpus/$$f | wc -l) seed inputs ok"; \
	done
