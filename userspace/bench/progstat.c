// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/progstat.h"

#define STATS_SYSCTL "/proc/sys/kernel/bpf_stats_enabled"

int sl_bench_bpf_stats_get(int *on)
{
	FILE *f = fopen(STATS_SYSCTL, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", on) != 1)
		ret = -EIO;
	fclose(f);
	return ret;
}

int sl_bench_bpf_stats_set(int on)
{
	FILE *f = fopen(STATS_SYSCTL, "we");
	int ret = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", on ? 1 : 0) < 0)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/* Parses the fdinfo of one program fd; 1 when it is of prog_type, 0 when not. */
static int read_fdinfo(int fd, __u32 prog_type, struct sl_bench_prog_stats *out)
{
	char path[64], line[128];
	unsigned long long v;
	bool type_ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0; /* closed since the directory was read */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "prog_type: %llu", &v) == 1)
			type_ok = v == prog_type;
		else if (sscanf(line, "prog_id: %llu", &v) == 1)
			out->prog_id = (__u32)v;
		else if (sscanf(line, "run_time_ns: %llu", &v) == 1)
			out->run_time_ns = v;
		else if (sscanf(line, "run_cnt: %llu", &v) == 1)
			out->run_cnt = v;
	}
	fclose(f);
	return type_ok;
}

int sl_bench_prog_stats_read(__u32 prog_type, struct sl_bench_prog_stats *out)
{
	struct sl_bench_prog_stats cur;
	char path[64], target[64], *end;
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int found = 0, fd;
	ssize_t n;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		fd = (int)strtol(de->d_name, &end, 10);
		if (de->d_name[0] == '.' || *end)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:bpf-prog") != 0)
			continue;
		memset(&cur, 0, sizeof(cur));
		if (read_fdinfo(fd, prog_type, &cur) != 1)
			continue;
		/* The same program may be open through several fds. */
		if (found && cur.prog_id != out->prog_id) {
			found = -ENOTUNIQ;
			break;
		}
		*out = cur;
		found = 1;
	}
	closedir(dir);
	if (found < 0)
		return found;
	return found ? 0 : -ENOENT;
}
