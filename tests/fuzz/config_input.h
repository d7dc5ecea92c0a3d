/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sl_config_load reads a path: the input is written to a memfd and loaded as
 * /proc/self/fd/N (fuzz_config, fuzz_policy).
 */
#ifndef SLUICE_TESTS_FUZZ_CONFIG_INPUT_H
#define SLUICE_TESTS_FUZZ_CONFIG_INPUT_H

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/* Puts data in the harness's memfd; returns its path (static storage). */
static inline const char *fuzz_config_path(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("sluice-fuzz.yaml", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	return path;
}

#endif
