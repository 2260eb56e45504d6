# scripts/deploy.mk — deployment builds, included by the Makefile.
#   make static                 ./chatd-static: musl (musl-gcc), fully static, stripped
#   make cross ARCH=aarch64     ./chatd-aarch64: static glibc, Debian's aarch64-linux-gnu-gcc
#   make cross ARCH=armhf       ./chatd-armhf:   static glibc, Debian's arm-linux-gnueabihf-gcc
#   make test-deploy            the above (cross only where its compiler exists), then
#                               tests/t_static.sh and tests/t_arm.sh
#   make rss                    scripts/rss.sh: idle RSS and RSS with 100k messages
# Same warnings as the normal build (CFLAGS_BASE), -Werror included.

STATIC_CC    ?= musl-gcc
STATIC_OPT   ?= -Os
STATIC_BUILD ?= build/static
STATIC_CFLAGS = $(CFLAGS_BASE) $(STATIC_OPT) -ffunction-sections -fdata-sections
STATIC_LDFLAGS = -static -s -Wl,--gc-sections

CROSS_CC_aarch64 := aarch64-linux-gnu-gcc
CROSS_CC_armhf   := arm-linux-gnueabihf-gcc
CROSS_ARCHES     := aarch64 armhf
# _TIME_BITS=64: a 64-bit time_t on armhf too (glibc >= 2.34; a no-op on 64-bit targets)
CROSS_CFLAGS      = $(CFLAGS_BASE) -D_TIME_BITS=64 -O2 -ffunction-sections -fdata-sections
CROSS_LDFLAGS     = -static -s -Wl,--gc-sections

# In CI a missing tool fails test-deploy instead of skipping (DEPLOY_STRICT=1).
DEPLOY_STRICT ?= $(if $(CI),1,)

.PHONY: static cross test-deploy rss

static: chatd-static
	@echo "chatd-static: $$(wc -c <chatd-static) bytes"

chatd-static: $(patsubst src/%.c,$(STATIC_BUILD)/%.o,$(SRCS))
	$(STATIC_CC) $(STATIC_LDFLAGS) -o $@ $^ $(LDLIBS)

$(STATIC_BUILD)/%.o: src/%.c src/*.h | $(STATIC_BUILD)
	$(STATIC_CC) $(STATIC_CFLAGS) -c -o $@ $<

$(STATIC_BUILD):
	mkdir -p $@

define CROSS_RULES
chatd-$(1): $(patsubst src/%.c,build/cross-$(1)/%.o,$(SRCS))
	$$(CROSS_CC_$(1)) $$(CROSS_LDFLAGS) -o $$@ $$^ $$(LDLIBS)

build/cross-$(1)/%.o: src/%.c src/*.h | build/cross-$(1)
	$$(CROSS_CC_$(1)) $$(CROSS_CFLAGS) -c -o $$@ $$<

build/cross-$(1):
	mkdir -p $$@
endef
$(foreach a,$(CROSS_ARCHES),$(eval $(call CROSS_RULES,$(a))))

ifneq ($(filter $(ARCH),$(CROSS_ARCHES)),)
cross: chatd-$(ARCH)
	@echo "chatd-$(ARCH): $$(wc -c <chatd-$(ARCH)) bytes"
else
cross:
	@echo "usage: make cross ARCH=aarch64|armhf" >&2; exit 2
endif

# Cross binaries are built only where their compiler is installed (always under DEPLOY_STRICT).
test-deploy: chatd-static
	@set -e; env=""; \
	for a in $(CROSS_ARCHES); do \
	    case $$a in aarch64) cc=$(CROSS_CC_aarch64) v=CHATD_AARCH64;; armhf) cc=$(CROSS_CC_armhf) v=CHATD_ARMHF;; esac; \
	    if [ -n "$(DEPLOY_STRICT)" ] || command -v $$cc >/dev/null; then \
	        $(MAKE) --no-print-directory chatd-$$a; env="$$env $$v=$(CURDIR)/chatd-$$a"; \
	    else echo "test-deploy: $$cc not installed, no chatd-$$a"; fi; \
	done; \
	env CHATD=$(CURDIR)/chatd-static CHATD_STATIC=$(CURDIR)/chatd-static $$env \
	    DEPLOY_STRICT=$(DEPLOY_STRICT) VERBOSE=1 JOBS=2 tests/run.sh t_static t_arm

rss: chatd-static
	scripts/rss.sh $(CURDIR)/chatd-static
