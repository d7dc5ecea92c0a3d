# sluice: `make` builds everything into build/, `make check` runs every test.
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PREFIX ?= /usr/local
DESTDIR ?=
# Where `make install` puts what is not under PREFIX (docs/OPERATIONS.md, "Files").
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DATADIR ?= $(PREFIX)/share/sluice
DOCDIR ?= $(PREFIX)/share/doc/sluice

BUILD := build
ARCH_DEFINE := -D__TARGET_ARCH_x86

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuserspace -I$(BUILD)
# Link-time optimisation: delivering an event to a subscriber crosses modules (sub.c,
# plan.c, gateway.c, outq.c, event.c) once per subscriber per event; inlined across them, S1 went
# from 4.03 to 4.45 M events/s (median of 8 A/B pairs, docs/BENCHMARKS.md). The sanitized
# builds (BASE_CFLAGS) keep separate functions for readable reports. `make LTO=` turns it off.
LTO ?= -flto=auto
ALL_CFLAGS := $(BASE_CFLAGS) $(LTO)
# -mcpu=v3: atomic fetch-and-add with a result (exact shared quotas) and 32-bit jumps.
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 $(ARCH_DEFINE) $(WARN) -Wno-unused-function \
	-Iinclude -Ivmlinux -Ibpf

LIBS_BPF := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
LIBS_JSON := -ljansson
LIBS_CORE := -levent -lwolfssl -lmsgpackc -lyaml -ljansson -pthread

BPF_SRC := bpf/meter.bpf.c
BPF_HDRS := $(wildcard bpf/*.h) include/sluice/meter.h
KERN_SRC := userspace/kern/kern.c userspace/kern/pins.c userspace/kern/names.c userspace/kern/dirlock.c
CTL_SRC := $(wildcard userspace/ctl/*.c)
# The daemon's modules (one .c + one .h each), linked into libsluice.a.
CORE_SRC := $(wildcard userspace/route/*.c userspace/net/*.c userspace/proto/*.c userspace/auth/*.c \
	userspace/config/*.c userspace/stats/*.c userspace/policy/*.c)
CORE_HDRS := $(wildcard userspace/*/*.h)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

# What `sluiced --version` and `sluicectl --version` print: the commit built.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
VERSION_DEF := -DSL_VERSION='"$(VERSION)"'

PROGS := $(BUILD)/sluiced $(BUILD)/sluicectl $(BUILD)/sluice-bench
TOOLS := $(BUILD)/sluice-meter-test
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
UNITS_SAN := $(patsubst tests/unit/%.c,$(BUILD)/unit-san/%,$(UNIT_SRC))

.PHONY: all check unit bats fmt fmt-check vmlinux bench-kernel bench install clean
all: $(PROGS) $(TOOLS)

$(BUILD)/meter.bpf.o: $(BPF_SRC) $(BPF_HDRS) vmlinux/vmlinux.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/meter.skel.h: $(BUILD)/meter.bpf.o
	$(BPFTOOL) gen skeleton $< name meter > $@

$(BUILD)/kern/%.o: userspace/kern/%.c userspace/kern/*.h include/sluice/meter.h $(BUILD)/meter.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libkern.a: $(patsubst userspace/kern/%.c,$(BUILD)/kern/%.o,$(KERN_SRC))
	ar rcs $@ $^

$(BUILD)/core/%.o: userspace/%.c $(CORE_HDRS) include/sluice/meter.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libsluice.a: $(patsubst userspace/%.c,$(BUILD)/core/%.o,$(CORE_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluiced: userspace/sluiced.c $(BUILD)/libsluice.a $(BUILD)/libkern.a
	$(CC) $(ALL_CFLAGS) $(VERSION_DEF) $< $(BUILD)/libsluice.a $(BUILD)/libkern.a $(LIBS_CORE) \
		$(LIBS_BPF) -o $@

$(BUILD)/sluicectl: $(CTL_SRC) userspace/ctl/*.h $(BUILD)/libsluice.a $(BUILD)/libkern.a
	$(CC) $(ALL_CFLAGS) $(VERSION_DEF) $(CTL_SRC) $(BUILD)/libsluice.a $(BUILD)/libkern.a \
		$(LIBS_CORE) $(LIBS_BPF) -o $@

# bench/args reads its numbers with the config's count parser (config/units.c, no other deps).
$(BUILD)/sluice-bench: $(wildcard userspace/bench/*.c userspace/bench/*.h) userspace/config/units.c \
		$(BUILD)/libkern.a
	$(CC) $(ALL_CFLAGS) userspace/bench/*.c userspace/config/units.c $(BUILD)/libkern.a \
		$(LIBS_BPF) -levent -lpthread -o $@

$(BUILD)/sluice-meter-test: tests/tools/meter_test.c tests/tools/*.h $(BUILD)/libkern.a
	$(CC) $(ALL_CFLAGS) -Itests/tools tests/tools/meter_test.c $(BUILD)/libkern.a $(LIBS_BPF) -lpthread -o $@

# sluice-bench's pure logic is not in libsluice.a: its test links the bench modules it needs.
BENCH_LIB_SRC := userspace/bench/args.c userspace/bench/hist.c userspace/bench/conn.c \
	userspace/bench/ws_client.c userspace/config/units.c $(wildcard userspace/bench/proto_*.c)

$(BUILD)/unit/test_bench: tests/unit/test_bench.c $(BENCH_LIB_SRC) $(wildcard userspace/bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $< $(BENCH_LIB_SRC) -levent -o $@

$(BUILD)/unit-san/test_bench: tests/unit/test_bench.c $(BENCH_LIB_SRC) $(wildcard userspace/bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Itests/unit $< $(BENCH_LIB_SRC) -levent -o $@

$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/libsluice.a $(BUILD)/libkern.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -Ibpf $< $(BUILD)/libsluice.a $(BUILD)/libkern.a \
		$(LIBS_CORE) $(LIBS_BPF) -o $@

# Sanitized builds compile the modules from source, so they are instrumented too.
$(BUILD)/unit-san/%: tests/unit/%.c $(KERN_SRC) $(CORE_SRC) $(CORE_HDRS) $(BUILD)/meter.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Itests/unit -Ibpf $< $(KERN_SRC) $(CORE_SRC) \
		$(LIBS_CORE) $(LIBS_BPF) -o $@

# The daemon itself under ASan+UBSan, for the end-to-end run in make check.
$(BUILD)/san/sluiced: userspace/sluiced.c $(KERN_SRC) $(CORE_SRC) $(CORE_HDRS) $(BUILD)/meter.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer $(VERSION_DEF) $< $(KERN_SRC) $(CORE_SRC) $(LIBS_CORE) \
		$(LIBS_BPF) -o $@

# sluicectl under ASan+UBSan too: it parses operator input and the daemon's replies.
$(BUILD)/san/sluicectl: $(CTL_SRC) userspace/ctl/*.h $(KERN_SRC) $(CORE_SRC) $(CORE_HDRS) \
		$(BUILD)/meter.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer $(VERSION_DEF) $(CTL_SRC) $(KERN_SRC) $(CORE_SRC) $(LIBS_CORE) \
		$(LIBS_BPF) -o $@

$(BUILD):
	@mkdir -p $@

# The write path's pool and flushes are the daemon's only threads: their test
# also runs under ThreadSanitizer.
UNITS_TSAN := $(BUILD)/unit-tsan/test_write

$(BUILD)/unit-tsan/%: tests/unit/%.c $(KERN_SRC) $(CORE_SRC) $(CORE_HDRS) $(BUILD)/meter.skel.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -fsanitize=thread -fno-omit-frame-pointer -Itests/unit -Ibpf $< \
		$(KERN_SRC) $(CORE_SRC) $(LIBS_CORE) $(LIBS_BPF) -o $@

unit: $(UNITS) $(UNITS_SAN) $(UNITS_TSAN)
bats: all

check: all unit $(BUILD)/san/sluiced $(BUILD)/san/sluicectl
	@scripts/check.sh

include mk/fuzz.mk

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

FMT_FILES = $(shell find bpf include userspace tests -name '*.[ch]' 2>/dev/null)
fmt:
	clang-format -i $(FMT_FILES)
fmt-check:
	clang-format --dry-run -Werror $(FMT_FILES)

bench: all
	scripts/bench.sh

bench-kernel: all
	scripts/bench-kernel.sh

INSTALL_SUBST = -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@DATADIR@|$(DATADIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/sluiced $(DESTDIR)$(PREFIX)/sbin/sluiced
	install -m 0755 $(BUILD)/sluicectl $(DESTDIR)$(PREFIX)/bin/sluicectl
	install -m 0755 $(BUILD)/sluice-bench $(DESTDIR)$(PREFIX)/bin/sluice-bench
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 docs/man/sluiced.8 docs/man/sluicectl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 scripts/completion/sluicectl \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/sluicectl
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DATADIR)/policies $(DESTDIR)$(DOCDIR)
	sed $(INSTALL_SUBST) packaging/sluiced.service.in >$(BUILD)/sluiced.service
	install -m 0644 $(BUILD)/sluiced.service $(DESTDIR)$(SYSTEMDUNITDIR)/sluiced.service
	sed $(INSTALL_SUBST) packaging/sluiced.yaml >$(BUILD)/sluiced.yaml
	install -m 0644 $(BUILD)/sluiced.yaml $(DESTDIR)$(DATADIR)/sluiced.yaml.example
	install -m 0644 policies/examples/*.yaml policies/demo.yaml $(DESTDIR)$(DATADIR)/policies/
	install -m 0644 docs/OPERATIONS.md docs/CONFIG.md docs/POLICIES.md $(DESTDIR)$(DOCDIR)/
	@# An operator's config is never overwritten: a new example sits beside it.
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sluice
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/sluice/sluiced.yaml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/sluice/sluiced.yaml; the new one is sluiced.yaml.example"; \
		install -m 0640 $(BUILD)/sluiced.yaml $(DESTDIR)$(SYSCONFDIR)/sluice/sluiced.yaml.example; \
	else \
		install -m 0640 $(BUILD)/sluiced.yaml $(DESTDIR)$(SYSCONFDIR)/sluice/sluiced.yaml; \
	fi

clean:
	rm -rf $(BUILD)
