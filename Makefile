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
MOD_SRCS = $(filter-out daemon/main.c,$(wildcard $(1)/*.c $(1)/*/*.c $(1)/*/*/*.c))
SRCS := $(foreach m,$(MODULES),$(call MOD_SRCS,$(m)))
OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(SRCS))
TEST_SRCS := $(wildcard tests/*/*.c) tests/runner.c
TEST_SRCS := $(filter-out tests/fuzz/%,$(TEST_SRCS))
TEST_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(TEST_SRCS))
LIB := $(OUT)/libseekd.a

AVX2_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16
isa_flags = $(if $(findstring _avx512,$(1)),$(AVX512_FLAGS),$(if $(findstring _avx2,$(1)),$(AVX2_FLAGS)))

-include $(OBJS:.o=.d) $(TEST_OBJS:.o=.d)

.PHONY: all deps test asan tsan debug fuzz bench demo fresh clean check-deps

all: deps $(OUT)/seekd
	@if [ "$(OUT)" = build/release ]; then ln -sf release/seekd build/seekd; fi

deps:
	@tools/deps.sh $(TOP)/$(DEPS_DIR)

$(GRAMMAR_LIB): deps

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) -MMD -MP -c $< -o $@

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
test: deps $(OUT)/seekd $(OUT)/seekd-test
	@if [ "$(OUT)" = build/release ]; then ln -sf release/seekd build/seekd; fi
	SEEKD_BIN=$(TOP)/$(OUT)/seekd SEEKD_BUILD=$(TOP)/build ASAN_OPTIONS=detect_leaks=1 \
	  $(OUT)/seekd-test -j $(TEST_JOBS) --ext tests/ext $(T)

asan:
	$(MAKE) test SAN=1

tsan:
	$(MAKE) test SAN=thread

debug:
	$(MAKE) all DEBUG=1

clean:
	rm -rf build/release build/debug build/asan build/tsan build/fuzz build/seekd
