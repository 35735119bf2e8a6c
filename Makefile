# WormFS: one non-recursive Makefile.  Each folder's module.mk lists its
# sources (NAME_SRCS), unit suites (NAME_TESTS), the modules it links against
# (NAME_DEPS), and any programs or benchmarks.  This file holds the flags, the
# pattern rules and the targets:
#
#   make            build every module, program and test binary
#   make test       install missing Debian packages, build, run every test
#   make bench      build and run the benchmarks (BENCH <name> <value> <unit>)
#   make run/stop   start/stop a local cluster mounted at ./mnt
#   make SAN=1 ...  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make clean

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := build-essential pkg-config libisal-dev libraft-dev libsqlite3-dev \
	libsodium-dev libmsgpack-dev libev-dev libgrpc-dev libprotobuf-c-dev \
	protobuf-c-compiler libcunit1-dev libuv1-dev libmicrohttpd-dev \
	libyaml-dev libjansson-dev libfuse3-dev fuse3 sqlite3 iproute2 \
	procps psmisc git python3

PKGS := libisal sqlite3 libsodium msgpack libprotobuf-c grpc cunit libuv raft \
	libmicrohttpd yaml-0.1 jansson fuse3

# `make` alone builds everything, whatever rule a module.mk states first.
.DEFAULT_GOAL := all

CC := gcc
# V=1 shows every command; by default only the file being built.
ifeq ($(V),1)
Q :=
else
Q = @echo "  $(if $(filter %.o,$@),CC,LD)	$@";
endif
SAN ?=
B := build$(if $(SAN),-san)

CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -D_GNU_SOURCE \
	-DFUSE_USE_VERSION=314 -I. -MMD -MP \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
	-lev -lpthread -lm
ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS += -O2
endif

MODULES :=
PROGRAMS :=
BENCHES :=
INTEGRATION :=
GEN_HDRS :=	# generated headers (proto/) every object waits for
include $(sort $(wildcard */module.mk))

objs = $(patsubst %.c,$(B)/%.o,$(1))
srcs_of = $(sort $(foreach m,$(1),$($(m)_SRCS)))

# One unit binary per module: its suites, the runner, and the sources of the
# module and of what it depends on.  Keeping them apart means a module that
# does not build yet does not stop the others' tests.
UNITS := $(foreach m,$(MODULES),$(if $($(m)_TESTS),$(B)/unit/$(m)))
define unit_rule
$(B)/unit/$(1): $(call objs,tests/unit_main.c $($(1)_TESTS) $(call srcs_of,$(1) $($(1)_DEPS)))
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach m,$(MODULES),$(if $($(m)_TESTS),$(eval $(call unit_rule,$(m)))))

# Programs and benchmarks: NAME_MAIN is the file with main(), NAME_USES the
# modules linked in.
define prog_rule
$(B)/bin/$(1): $(call objs,$($(1)_MAIN) $(call srcs_of,$($(1)_USES)))
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS) $(BENCHES),$(eval $(call prog_rule,$(p))))

BINS := $(foreach p,$(PROGRAMS),$(B)/bin/$(p))
BENCH_BINS := $(foreach p,$(BENCHES),$(B)/bin/$(p))

.PHONY: all test check unit integration bench run stop clean deps headers
all: $(BINS) $(UNITS) $(BENCH_BINS) headers

$(B)/%.o: %.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# Every public header compiles on its own (STYLE.md).
HEADERS := $(filter-out %_internal.h tests/%,$(wildcard */*.h))
headers: $(patsubst %.h,$(B)/headers/%.ok,$(HEADERS))
$(B)/headers/%.ok: %.h
	@mkdir -p $(@D)
	@printf '#include "%s"\n#include "%s"\n' $< $< | \
		$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -x c -fsyntax-only - && touch $@

# Install whatever Debian package is missing (needs root; a no-op when all are
# present, so it never touches the network on a ready machine).
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
		grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make: run as root to install the packages above" >&2; \
			exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q $$missing; \
	fi

# The entry points re-run make after deps, so pkg-config sees the packages.
test: deps
	@$(MAKE) --no-print-directory check
bench: deps
	@$(MAKE) --no-print-directory all
	@tests/run_bench.sh $(BENCH_BINS)

check: all
	@tests/run_tests.sh "$(UNITS)" "$(INTEGRATION)" "$(B)"
unit: all
	@tests/run_tests.sh "$(UNITS)" "" "$(B)"

run: deps
	@$(MAKE) --no-print-directory all
	@tests/cluster.sh start "$(B)"
stop:
	@tests/cluster.sh stop "$(B)"

clean:
	rm -rf build build-san

-include $(shell find $(B) -name '*.d' 2>/dev/null)
