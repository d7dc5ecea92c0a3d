/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A unit test's scratch directory under /tmp and the files it puts there,
 * all removed by cleanup(): the loaders under test read real files.
 */
#ifndef SLUICE_TESTS_TMPFILES_H
#define SLUICE_TESTS_TMPFILES_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Short, so that a path under it plus a name always fits PATH_MAX. */
static char tmpdir[64];
static char tmpfiles_created[128][PATH_MAX];
static int tmpfiles_n;

/* Makes /tmp/sluice-test-NAME-XXXXXX; returns 0, or -1 after saying why. */
static inline int tmpfiles_init(const char *name)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-test-%s-XXXXXX", name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

/* The full path of name in the test's directory, remembered once for cleanup(). */
static inline char *remember(const char *name)
{
	char path[PATH_MAX];
	int i;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	for (i = 0; i < tmpfiles_n; i++)
		if (!strcmp(tmpfiles_created[i], path))
			return tmpfiles_created[i];
	if (tmpfiles_n == (int)(sizeof(tmpfiles_created) / sizeof(tmpfiles_created[0]))) {
		fprintf(stderr, "too many test files\n");
		exit(2);
	}
	snprintf(tmpfiles_created[tmpfiles_n], PATH_MAX, "%s", path);
	return tmpfiles_created[tmpfiles_n++];
}

/* Writes name (relative to the test's directory) with text; returns its full path. */
static inline const char *put(const char *name, const char *text)
{
	char *path = remember(name);
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static inline void put_dir(const char *name)
{
	char *path = remember(name);

	if (mkdir(path, 0700) && errno != EEXIST) {
		perror(path);
		exit(2);
	}
}

static inline void cleanup(void)
{
	/* Newest first: a directory is always remembered before the files in it. */
	while (tmpfiles_n > 0) {
		const char *p = tmpfiles_created[--tmpfiles_n];

		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(tmpdir);
}

#endif
