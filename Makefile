# Nagar — one Makefile for the whole suite.
#
#   make            build every binary into build/
#   make run        install what is missing, build, start PostgreSQL (embedded
#                   under var/ unless NAGAR_DB_* points elsewhere), broker and services
#   make test       build with ASan+UBSan into build/asan/ and run unit and system tests
#   make bench-bus  broker throughput against a raw ZeroMQ round trip
#
# Layout: proto/*.proto -> $(BUILD)/gen (protoc-c, never committed);
# common/*.c -> $(BUILD)/libnagar.a; services/<name>/*.c -> $(BUILD)/nagar-<name>;
# deploy/tools/<name>.c -> $(BUILD)/nagar-<name> (deploy/tools/ctl/*.c -> nagar-ctl);
# tests/unit/test_*.c -> $(BUILD)/tests/.

BUILD    ?= build
SANITIZE ?=
CC       ?= cc
PYTHON   ?= /usr/bin/python3

PKGS     := libczmq libzmq libprotobuf-c libpq jansson libsodium libcurl pangocairo libqrencode
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libmicrohttpd 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2 -g
CFLAGS   += $(OPT) -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing \
            -Icommon -I$(BUILD)/gen -MMD -MP $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lm -lpthread

ifeq ($(SANITIZE),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

# Generated protobuf code.
PROTOS      := $(wildcard proto/*.proto)
TEST_PROTOS := $(wildcard tests/proto/*.proto)
GEN_C       := $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_TEST_C  := $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(TEST_PROTOS))
GEN_H       := $(GEN_C:.c=.h) $(GEN_TEST_C:.c=.h)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: %.proto
	@mkdir -p $(dir $@)
	protoc-c --c_out=$(BUILD)/gen $<

# The whole contract as one FileDescriptorSet, for the tests' protobuf helper
# (tests/system/contract.py): the same .proto files the C code comes from.
GEN_DESC := $(BUILD)/gen/contract.desc
$(GEN_DESC): $(PROTOS) $(TEST_PROTOS)
	@mkdir -p $(dir $@)
	protoc-c --include_imports -o $@ $^

# The limits the protos declare beside their fields ("// [range 1..200]"),
# as a table for libnagar (common/field_limits.h).
GEN_LIMITS := $(BUILD)/gen/proto_limits.c
$(GEN_LIMITS): $(PROTOS) proto/limits.py
	@mkdir -p $(dir $@)
	$(PYTHON) proto/limits.py $(PROTOS) > $@.tmp && mv $@.tmp $@

# libnagar: common/ plus the generated contract.
LIB_SRC := $(wildcard common/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(GEN_C:.c=.o) $(GEN_LIMITS:.c=.o)
LIB     := $(BUILD)/libnagar.a
TEST_PROTO_OBJ := $(GEN_TEST_C:.c=.o)

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One binary per service directory and per deploy tool.
SERVICES := $(notdir $(patsubst %/,%,$(wildcard services/*/)))
TOOLS    := $(notdir $(basename $(wildcard deploy/tools/*.c)))
SUPPORT  := $(notdir $(basename $(wildcard tests/support/*.c)))
BINS     := $(addprefix $(BUILD)/nagar-,$(SERVICES) $(TOOLS))
SUPPORT_BINS := $(addprefix $(BUILD)/tests/,$(SUPPORT))

define service_binary
$(BUILD)/nagar-$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c)) $(LIB)
	$$(CC) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@
endef
$(foreach s,$(SERVICES),$(eval $(call service_binary,$(s))))

# The gateway is the only HTTP speaker, and the only user of libmicrohttpd.
GATEWAY_SRC := $(wildcard gateway/*.c)
ifneq ($(GATEWAY_SRC),)
BINS += $(BUILD)/nagar-gateway
endif
$(BUILD)/nagar-gateway: $(patsubst %.c,$(BUILD)/obj/%.o,$(GATEWAY_SRC)) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(shell pkg-config --libs libmicrohttpd) -o $@

$(BUILD)/nagar-%: $(BUILD)/obj/deploy/tools/%.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# nagarctl is one binary of several files, one per command (deploy/tools/ctl/).
CTL_SRC := $(wildcard deploy/tools/ctl/*.c)
BINS += $(BUILD)/nagar-ctl
$(BUILD)/nagar-ctl: $(patsubst %.c,$(BUILD)/obj/%.o,$(CTL_SRC)) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/support/%.o $(TEST_PROTO_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# pb_json finds any message type of the contract by its descriptor symbol
# (dlsym): it links the whole library and exports its symbols.
$(BUILD)/tests/pb_json: $(BUILD)/obj/tests/support/pb_json.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -rdynamic $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS) -ldl -o $@

# Unit tests (cmocka), one binary per tests/unit/test_*.c, each linked with
# the tests' shared support files (tests/unit/*.c that are not test_*.c).
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(UNIT_SUPPORT_OBJ) $(TEST_PROTO_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# Fuzz harnesses (libFuzzer), one per tests/fuzz/fuzz_*.c, built by clang
# with the whole library instrumented. `make fuzz FUZZ_SECONDS=N` runs each.
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
GATEWAY_LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out gateway/main.c,$(GATEWAY_SRC)))

$(BUILD)/obj/tests/fuzz/fuzz_gateway_%.o: tests/fuzz/fuzz_gateway_%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Igateway -c $< -o $@

$(BUILD)/fuzz/fuzz_gateway_%: $(BUILD)/obj/tests/fuzz/fuzz_gateway_%.o $(GATEWAY_LIB_OBJ) $(TEST_PROTO_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) $(shell pkg-config --libs libmicrohttpd) -o $@

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(TEST_PROTO_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Benchmarks' own programs (make bench-*).
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/tests/%,$(BENCH_SRC))
$(BUILD)/tests/bench_%: $(BUILD)/obj/tests/bench/bench_%.o $(TEST_PROTO_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/hello_mhd: $(BUILD)/obj/tests/bench/hello_mhd.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(shell pkg-config --libs libmicrohttpd) -o $@

# The operator's tool answers to its usual name too.
BINS += $(BUILD)/nagarctl
$(BUILD)/nagarctl: $(BUILD)/nagar-ctl
	ln -sf nagar-ctl $@

# The web apps (web/): npm packages from web/package-lock.json, bundled by
# web/build.mjs into $(BUILD)/web, which the gateway serves (NAGAR_GATEWAY_WEB_DIR).
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package.json
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@
$(BUILD)/web/index.html: $(WEB_SRC) web/node_modules/.package-lock.json
	node web/build.mjs $(BUILD)/web
web: $(BUILD)/web/index.html

all: $(BINS) $(BUILD)/web/index.html
# The binaries alone (the container image builds these; the web apps are
# bundled on the host, where npm is: deploy/cluster.sh).
bins: $(BINS)
# node_modules is named here too: the web tests run its tools (playwright, axe),
# so a deleted node_modules is installed again even when the bundle is current.
tests: all $(UNIT_BINS) $(SUPPORT_BINS) $(BENCH_BINS) $(GEN_DESC) web/node_modules/.package-lock.json

.DEFAULT_GOAL := all
.PHONY: all bins web tests deps test drills run bench-web bench-bus bench-gateway bench-property-tax bench-water-tax bench-compare bench-demand-instructions bench-payment-instructions valgrind fuzz fuzz-build clean
.SECONDARY:

deps:
	@deploy/deps.sh

test: deps
	$(MAKE) BUILD=build/asan SANITIZE=1 tests
	BUILD=build/asan $(PYTHON) tests/run.py

run: deps
	$(MAKE) all
	deploy/run.sh

# Attack and failure drills (issue 8): restore after a destructive attack, a
# compromised service, crashes under load, offline receipts; and (issue 16)
# the compose cluster's host-loss drills, tests/drills/test_cluster.py, which
# build the image with podman (deploy/cluster.sh; about 11 min with the image
# cached, a few more to make it the first time). Needs root.
drills: deps
	$(MAKE) BUILD=build/asan SANITIZE=1 tests
	BUILD=build/asan $(PYTHON) -m pytest tests/drills -q -s -p no:cacheprovider --timeout=600

# BENCH_ARGS go to the benchmark's script, e.g. BENCH_ARGS="--workers 4".
bench-bus: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_bus.py $(BENCH_ARGS)

bench-gateway: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_gateway.py $(BENCH_ARGS)

bench-property-tax: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_property_tax.py $(BENCH_ARGS)

bench-water-tax: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_water_tax.py $(BENCH_ARGS)

# Property tax's payments/s and demand/s next to an older build's, in one
# run (issue 13): BENCH_OLD=<rev> (default: main before issue 13's
# SQL modules, rules-only writes and history).
BENCH_OLD ?= 7b3248d
bench-compare: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_compare.py --old $(BENCH_OLD) $(BENCH_ARGS)

# The annual demand's instructions (callgrind in the backend) next to the
# same older build's: a figure the machine's load does not move.
bench-demand-instructions: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_demand_instructions.py --old $(BENCH_OLD) $(BENCH_ARGS)

# A counter payment's instructions in the backend, the same way.
bench-payment-instructions: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_payment_instructions.py --old $(BENCH_OLD) $(BENCH_ARGS)

bench-web: deps
	$(MAKE) all tests
	BUILD=build $(PYTHON) tests/bench/bench_web.py $(BENCH_ARGS)

valgrind: deps
	$(MAKE) tests
	BUILD=build $(PYTHON) tests/run.py --unit-only --valgrind

fuzz: deps
	$(MAKE) BUILD=build/fuzz CC=clang SANITIZE=1 \
	  OPT="-O1 -g -fsanitize=fuzzer-no-link" fuzz-build
	@for f in build/fuzz/fuzz/fuzz_*; do \
	  name=$$(basename $$f); corpus=build/fuzz/corpus/$$name; mkdir -p $$corpus; \
	  seeds=tests/fuzz/corpus/$${name#fuzz_}; dict=tests/fuzz/$${name#fuzz_}.dict; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	    $$( [ -f $$dict ] && echo -dict=$$dict ) $$corpus $$( [ -d $$seeds ] && echo $$seeds ) \
	    2>&1 | grep -E 'stat::number_of_executed_units|Done|ERROR|SUMMARY' || exit 1; \
	done

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
