# seekd: one Makefile.  Targets: all (default), deps, test, asan (= test SAN=1), tsan, debug,
# fuzz, bench, demo, fresh, clean.  Variables: SAN=1 (ASan+UBSan), SAN=thread (TSan), WERROR=1,
# DEBUG=1.  Every variant builds into its own folder under build/.
.DEFAULT_GOAL := all
SHELL := /bin/bash

CC ?= cc
TOP := $(abspath .)
DEPS_DIR := build
GRAMMAR_LIB := $(DEPS_DIR)/grammars/libgrammars.a

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wdouble-promotion
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g -pthread -fvisibility=hidden $(WARN) -I. -Ibase
OPT := -O2
OUT := build/release
ifeq ($(DEBUG),1)
  OPT := -O0
  OUT := build/debug
endif
ifeq ($(SAN),1)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  OUT := build/asan
  SANLD := -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=thread
  OUT := build/tsan
  SANLD := -fsanitize=thread
endif
ifeq ($(WERROR),1)
  WARN += -Werror
endif
CFLAGS ?=
CFLAGS_ALL = $(CFLAGS_COMMON) $(OPT) $(CFLAGS)
LDLIBS := -luv -lcjson -lopenblas -lsqlite3 -ltree-sitter -lm -lpthread

# Modules, lowest first.  SIMD kernels get their ISA flags from their file name suffix; they are
# chosen at run time from CPUID, never by -march=native.
MODULES := base engine lsp context cache daemon
# A module may add a fragment <module>/module.mk that appends generated sources to EXTRA_SRCS
# (paths under build/gen/, with their own rules).
EXTRA_SRCS :=
-include $(wildcard */module.mk)
MOD_SRCS = $(filter-out daemon/main.c,$(wildcard $(1)/*.c $(1)/*/*.c $(1)/*/*/*.c))
SRCS := $(foreach m,$(MODULES),$(call MOD_SRCS,$(m))) $(EXTRA_SRCS)
OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(patsubst build/gen/%,gen/%,$(SRCS)))
TEST_SRCS := $(wildcard tests/*/*.c) tests/runner.c
TEST_SRCS := $(filter-out tests/fuzz/%,$(TEST_SRCS))
TEST_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(TEST_SRCS))
LIB := $(OUT)/libseekd.a

AVX2_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16
isa_flags = $(if $(findstring _avx512,$(1)),$(AVX512_FLAGS),$(if $(findstring _avx2,$(1)),$(AVX2_FLAGS)))

-include $(OBJS:.o=.d) $(TEST_OBJS:.o=.d)

.PHONY: all deps test asan tsan debug fuzz bench bench-models demo fresh clean

all: deps $(OUT)/seekd
	@if [ "$(OUT)" = build/release ]; then ln -sf release/seekd build/seekd; fi

deps:
	@tools/deps.sh $(TOP)/$(DEPS_DIR)

$(GRAMMAR_LIB): deps

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) -MMD -MP -c $< -o $@

$(OUT)/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/seekd: $(OUT)/obj/daemon/main.o $(LIB) $(GRAMMAR_LIB)
	$(CC) $(OPT) $(SANLD) -pthread -o $@ $< $(LIB) $(GRAMMAR_LIB) $(LDLIBS)

$(OUT)/seekd-test: $(TEST_OBJS) $(LIB) $(GRAMMAR_LIB)
	$(CC) $(OPT) $(SANLD) -pthread -o $@ $(TEST_OBJS) $(LIB) $(GRAMMAR_LIB) $(LDLIBS)

# The README's test command.  Plain build first, then every test; external test scripts in
# tests/ext find the binary through SEEKD_BIN.
TEST_JOBS ?= 2
TEST_EXT ?= --ext tests/ext
test: deps $(OUT)/seekd $(OUT)/seekd-test
	@if [ "$(OUT)" = build/release ]; then ln -sf release/seekd build/seekd; fi
	SEEKD_BIN=$(TOP)/$(OUT)/seekd SEEKD_OUT=$(TOP)/$(OUT) SEEKD_BUILD=$(TOP)/build ASAN_OPTIONS=detect_leaks=1 \
	  $(OUT)/seekd-test -j $(TEST_JOBS) $(TEST_EXT) $(T)

asan:
	$(MAKE) test SAN=1

# ThreadSanitizer runs the C tests (the pipeline's threads are exercised there); the scripted
# end-to-end tests in tests/ext assume uninstrumented speed (deadlines, editor timeouts).
tsan:
	$(MAKE) test SAN=thread TEST_EXT=

debug:
	$(MAKE) all DEBUG=1

# Benchmarks: every bench/*.c is a program of its own linked with libseekd; `make bench` builds
# them, makes the random-weight models the model benches time (`make bench-models`: DeepSeek
# shapes by tools/make_model.py into build/bench-models/, 11 GB, about 4 min the first time)
# and runs them all (B=substring picks some; about 20 min in all on a quiet 2-core machine).
# They print figures; they assert nothing.  Each refuses to time a busy machine (load average,
# other processes' CPU): make bench runs the others and fails at the end.  SEEKD_BENCH_FORCE=1
# times anyway, for development, and marks the output NOT VALID.
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(OUT)/bench/%,$(BENCH_SRCS))
BENCH_MODELS := coder-1.3b-Q4_0 coder-1.3b-Q8_0 coder-1.3b-Q4_K_M coder-6.7b-Q4_0 llm-7b-Q4_0
$(OUT)/bench/%: bench/%.c $(LIB) $(GRAMMAR_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(GRAMMAR_LIB) $(LDLIBS)
build/bench-models/%.gguf:
	@mkdir -p $(dir $@)
	/usr/bin/python3 tools/make_model.py $@.tmp --preset $(firstword $(subst -Q, ,$*)) \
	    --type Q$(lastword $(subst -Q, ,$*)) --seed 1 && mv $@.tmp $@
bench-models: $(patsubst %,build/bench-models/%.gguf,$(BENCH_MODELS))
bench: deps $(OUT)/seekd $(BENCH_BINS)
	@case " bench_model bench_spec bench_complete " in *$(B)*) $(MAKE) --no-print-directory bench-models;; esac
	@fail=; for b in $(BENCH_BINS); do case "$$b" in *$(B)*) echo "== $$b"; \
	    SEEKD_BIN=$(TOP)/$(OUT)/seekd $$b || fail="$$fail $${b##*/}";; esac; done; \
	if [ -n "$$fail" ]; then echo "make bench: not timed (busy machine) or failed:$$fail"; exit 1; fi

# Fuzzing: every tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput.  `make fuzz` builds each
# with libFuzzer (clang, ASan+UBSan) and runs it for FUZZ_SECONDS (FUZZ=NAME picks one), adding
# crashes to tests/fuzz/regress/NAME/.  `make test` replays every regression and seed input
# through the same targets linked with tests/fuzz/replay.c (tests/ext/fuzz_replay.sh).
FUZZ_SECONDS ?= 300
FUZZ_SRCS := $(filter-out tests/fuzz/replay.c,$(wildcard tests/fuzz/*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_OUT := build/fuzz
FUZZ_CFLAGS := $(CFLAGS_COMMON) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(filter-out $(EXTRA_SRCS),$(SRCS))) $(patsubst build/gen/%.c,$(FUZZ_OUT)/obj/gen/%.o,$(EXTRA_SRCS))
$(FUZZ_OUT)/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(call isa_flags,$<) -c $< -o $@
$(FUZZ_OUT)/libseekd.a: $(FUZZ_LIB_OBJS)
	@rm -f $@; ar rcs $@ $^
$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OUT)/libseekd.a $(GRAMMAR_LIB)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OUT)/libseekd.a $(GRAMMAR_LIB) $(LDLIBS)
fuzz: deps $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_NAMES))
	@for n in $(FUZZ_NAMES); do case "$$n" in *$(FUZZ)*) \
	  mkdir -p tests/fuzz/regress/$$n $(FUZZ_OUT)/corpus/$$n; \
	  echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_OUT)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=tests/fuzz/regress/$$n/ \
	    $(FUZZ_OUT)/corpus/$$n tests/fuzz/seeds/$$n 2>&1 | grep -E 'stat::number_of_executed_runs|cov:|ERROR|SUMMARY' | tail -4 || true;; esac; done
# Replay binaries (plain and sanitizer builds link the same target with a main that reads files).
$(OUT)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB) $(GRAMMAR_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< tests/fuzz/replay.c $(LIB) $(GRAMMAR_LIB) $(LDLIBS)
FUZZ_REPLAY := $(patsubst %,$(OUT)/fuzz-replay/fuzz_%,$(FUZZ_NAMES))
test: $(FUZZ_REPLAY)

# The README's first command: deps, build, then a scripted editor session against `seekd lsp`
# with the bundled model on examples/demo.py (tools/demo.py prints each suggestion, its latency
# and where it came from, and fails when the suggestions are empty or break the syntax).
DEMO_ARGS ?=
demo: all
	python3 tools/demo.py --seekd $(TOP)/$(OUT)/seekd $(DEMO_ARGS)

clean:
	rm -rf build/release build/debug build/asan build/tsan build/fuzz build/seekd

fresh:
	tools/fresh.sh

# The VS Code extension packaged offline into a .vsix (node_modules come from its package-lock).
vsix: deps
	mkdir -p editors/vscode/build
	cd editors/vscode && npx tsc -p . && npx vsce package --allow-missing-repository --skip-license -o build/seekd.vsix

# The offline bundle (tools/dist.sh): build/dist/seekd-VERSION-linux-x86_64.tar.gz with the binary,
# its shared libraries, the models, the .vsix, the Neovim plugin, licences and install.sh.
.PHONY: dist test-e2e
dist: all vsix
	tools/dist.sh $(OUT)

# VS Code end to end in code-server + headless Chromium (tests/e2e/run.sh; installs code-server
# 4.100.3 from npm into build/e2e on first use).  Screenshot: build/e2e/screenshot.png.
test-e2e: all vsix
	@tools/deps.sh --e2e $(TOP)/$(DEPS_DIR)
	SEEKD_BIN=$(TOP)/$(OUT)/seekd tests/e2e/run.sh
