# Souq: `make` builds bin/souq; `make run` serves on http://127.0.0.1:8080; `make test` runs every test.
# Both README commands install missing Debian packages first when run as root (scripts/deps.sh).

PKGS      := libh2o-evloop libpq jansson libjwt lua5.4 libargon2 openssl
CC        ?= cc
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -I. -Ibuild/gen $(PKG_CFLAGS) -Wall -Wextra -Werror \
              -Wno-missing-field-initializers -fno-strict-aliasing -MMD -MP
RELEASE_CFLAGS = -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DSQ_DEBUG_ASSERTS
LDFLAGS_RELEASE = -Wl,-z,relro,-z,now
LIBS = $(PKG_LIBS) -lpthread

CORE_SRC := $(wildcard core/base/*.c core/db/*.c core/*.c)
PLUGIN_SRC := $(wildcard plugins/host/*.c)
API_SRC  := $(filter-out api/main.c,$(wildcard api/*.c api/handlers/*.c))
GEN_SRC  := build/gen/embedded.c
EMBEDDED := $(wildcard migrations/*.sql) core/seed_catalog.sql openapi/openapi.json

REL_OBJ  := $(patsubst %.c,build/release/%.o,$(CORE_SRC) $(PLUGIN_SRC) $(API_SRC) api/main.c) build/release/gen/embedded.o
ASAN_OBJ := $(patsubst %.c,build/asan/%.o,$(CORE_SRC) $(PLUGIN_SRC) $(API_SRC) api/main.c) build/asan/gen/embedded.o

# tests/unit/fuzz_*.c are libFuzzer targets (make fuzz-json), not unit tests
UNIT_SRC := $(filter-out tests/unit/fuzz_%.c,$(wildcard tests/unit/*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))
# tests of core/db against a real PostgreSQL (tests/run.sh gives them SOUQ_TEST_DATABASE_URL)
DBTEST_SRC := $(wildcard tests/db/*.c)
DBTEST_BIN := $(patsubst tests/db/%.c,build/dbtests/%,$(DBTEST_SRC))
# unit tests link every module but main.c and the server (they need no network and no database)
UNIT_LINK := $(filter-out build/asan/api/main.o,$(ASAN_OBJ))

.PHONY: all deps run stop test unit api-test bench bench-import bench-carts bench-checkout bench-plugins bench-events fmt clean asan fuzz-json

all: bin/souq

deps:
	@scripts/deps.sh build

# the list of embedded files itself: rewritten only when it changes, so a migration removed or renamed rebuilds too
build/gen/embedded.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(sort $(EMBEDDED))' | cmp -s - $@ || echo '$(sort $(EMBEDDED))' > $@

build/gen/embedded.c: $(EMBEDDED) build/gen/embedded.list scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $@

FORCE:

build/release/gen/embedded.o: build/gen/embedded.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) -c $< -o $@

build/asan/gen/embedded.o: build/gen/embedded.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

build/release/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

bin/souq: $(REL_OBJ)
	@mkdir -p bin
	$(CC) $(RELEASE_CFLAGS) $(LDFLAGS_RELEASE) -o $@ $^ $(LIBS)

# the sanitizer build the API tests run
bin/souq-asan: $(ASAN_OBJ)
	@mkdir -p bin
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LIBS)

asan: bin/souq-asan

build/tests/%: tests/unit/%.c tests/unit/check.h $(UNIT_LINK)
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -o $@ $< $(UNIT_LINK) $(LIBS)

build/dbtests/%: tests/db/%.c $(UNIT_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -o $@ $< $(UNIT_LINK) $(LIBS)

run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory bin/souq
	@scripts/run.sh

stop:
	@scripts/pg.sh stop var/pg

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory bin/souq bin/souq-asan $(UNIT_BIN) $(DBTEST_BIN)
	@tests/run.sh

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@bench/run.sh
	@bench/checkout.sh
	@$(MAKE) --no-print-directory bench-plugins
	@bench/events.sh

# add-to-cart and checkout against pgbench on the same durable cluster (part of make bench)
bench-checkout:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@bench/checkout.sh

# microseconds per call of a pure request-path plugin hook against the same provider in C (no database), then the
# cart endpoint with the shipping-weight-table plugin against the built-in flat_rate in one run (bench/cart_plugin.sh)
build/bench/plugin_call: bench/plugin_call.c $(filter-out build/release/api/main.o,$(REL_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

bench-plugins: build/bench/plugin_call
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@build/bench/plugin_call
	@bench/cart_plugin.sh

# events dispatched end to end: outbox -> signed webhook -> loopback receiver (part of make bench)
bench-events:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@bench/events.sh

# rows/s of bulk imports (10k-row CSV): bench/import.sh
bench-import:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@bench/import.sh

bench-carts:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bin/souq
	@bench/carts.sh

# sq_json_walk against jansson under libFuzzer (clang; not part of make test or CI): FUZZ_SECONDS (60) of one job,
# the corpus kept in build/fuzz/json-corpus; prints libFuzzer's summary (executions, coverage) at the end
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
build/fuzz/json: tests/unit/fuzz_json.c tests/unit/json_tree.h core/base/json.c core/base/json.h core/base/arena.c core/base/iso.c \
                 core/base/util.c core/base/log.c core/base/err.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $(filter %.c,$^) -ljansson -lpthread

fuzz-json: build/fuzz/json
	@mkdir -p build/fuzz/json-corpus
	build/fuzz/json -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -dict=tests/unit/fuzz_json.dict build/fuzz/json-corpus

fmt:
	clang-format -i $(CORE_SRC) $(PLUGIN_SRC) $(API_SRC) api/main.c $(wildcard core/*.h core/*/*.h plugins/host/*.h api/*.h api/*/*.h tests/unit/*.[ch])

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
