# libFuzzer harnesses (tests/fuzz/fuzz_<name>.c, docs/FUZZING.md), one per parser of outside
# input, built with clang under ASan+UBSan into build/fuzz/.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="http ws"]   fuzz each for a while
#   make fuzz-smoke                                        corpus + regressions, then ~3 s each
#
# The modules are compiled from source with coverage instrumentation (fuzzer-no-link) into an
# archive of their own, so a harness links only the objects it uses.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g $(FUZZ_SAN) $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuserspace
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZERS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_NAMES))
FUZZ_OBJS := $(patsubst userspace/%.c,$(FUZZ_DIR)/core/%.o,$(CORE_SRC))

.PHONY: fuzz fuzz-smoke fuzz-build

$(FUZZ_DIR)/core/%.o: userspace/%.c $(CORE_HDRS) include/sluice/meter.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libsluice.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

# -Ibpf: fuzz_meter compiles the kernel meter's frame parsers (bpf/frame.h) for userspace.
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h bpf/frame.h $(FUZZ_DIR)/libsluice.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -Ibpf $< $(FUZZ_DIR)/libsluice.a \
		$(LIBS_CORE) -o $@

fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	scripts/fuzz.sh -t $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	scripts/fuzz.sh --smoke -t $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# scripts/check.sh runs the smoke with the harnesses built here.
check: fuzz-build
