// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluice-bench: the project's load generator. `sluice-bench MODE [OPTIONS]`;
 * modes come from one table, as bpftool's commands do, and may be shortened
 * to an unambiguous prefix (`sluice-bench k`). Each mode parses its own
 * options and returns the exit status.
 */
#include <stdio.h>
#include <string.h>

#include "bench/fanout.h"
#include "bench/floor.h"
#include "bench/kernel.h"

struct mode {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct mode modes[] = {
	{ "kernel", sl_bench_kernel_main },	      { "fanout", sl_bench_fanout_main },
	{ "latency", sl_bench_fanout_main },	      { "idle", sl_bench_fanout_main },
	{ "meter-floor", sl_bench_meter_floor_main },
};

static const char usage_text[] =
    "Usage: sluice-bench MODE [OPTIONS]\n"
    "       sluice-bench { help | MODE --help }\n"
    "\n"
    "  sluice-bench " SL_BENCH_KERNEL_GRAMMAR "\n"
    "  sluice-bench " SL_BENCH_FANOUT_GRAMMAR "\n"
    "  sluice-bench meter-floor --pin-root DIR\n"
    "\n"
    "MODE := { kernel | fanout | latency | idle | meter-floor }\n"
    "Modes may be shortened to unambiguous prefixes.\n"
    "Exit status: 0 success, 1 error or failed check, 2 usage error.\n";

/* The mode named by name or by an unambiguous prefix of it; NULL otherwise. */
static const struct mode *mode_select(const char *name)
{
	const struct mode *found = NULL;
	size_t i, len = strlen(name);

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(modes[i].name, name) == 0)
			return &modes[i];
		if (len && strncmp(modes[i].name, name, len) == 0) {
			if (found)
				return NULL;
			found = &modes[i];
		}
	}
	return found;
}

int main(int argc, char **argv)
{
	const struct mode *m;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	m = mode_select(argv[1]);
	if (!m) {
		fprintf(stderr, "sluice-bench: unknown or ambiguous mode '%s'\n\n%s", argv[1],
			usage_text);
		return 2;
	}
	return m->run(argc - 1, argv + 1);
}
