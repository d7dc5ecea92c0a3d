// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench/floor.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kern/kern.h"

/* The sockhash holds one socket at a time: each round uses a fresh connection. */
#define FLOOR_KEY 0

/* r0 = SK_PASS; exit. Returns the program's fd or -errno. */
static int noop_prog_load(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SK_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	/* A link update checks it (EINVAL otherwise); link_create does not. */
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_SK_MSG_VERDICT);
	int fd = bpf_prog_load(BPF_PROG_TYPE_SK_MSG, "sluice_floor", "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), &opts);

	return fd < 0 ? -errno : fd;
}

int sl_bench_floor_open(struct sl_bench_floor *f, char *err, size_t errlen)
{
	int ret;

	f->prog_fd = f->map_fd = f->link_fd = -1;
	f->map_fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "sluice_floor", sizeof(__u32),
				   sizeof(__u64), 1, NULL);
	if (f->map_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "floor: cannot create a sockhash: %s", strerror(errno));
		goto fail;
	}
	f->prog_fd = noop_prog_load();
	if (f->prog_fd < 0) {
		ret = f->prog_fd;
		snprintf(err, errlen, "floor: cannot load the no-op sk_msg program: %s",
			 strerror(-ret));
		goto fail;
	}
	/* Before any socket is added: a psock copies the program when it is made. */
	f->link_fd = bpf_link_create(f->prog_fd, f->map_fd, BPF_SK_MSG_VERDICT, NULL);
	if (f->link_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "floor: cannot attach the no-op program: %s",
			 strerror(errno));
		goto fail;
	}
	return 0;
fail:
	sl_bench_floor_close(f);
	return ret;
}

int sl_bench_floor_add(struct sl_bench_floor *f, int sock_fd)
{
	__u32 key = FLOOR_KEY;
	__u64 value = (__u64)sock_fd;

	return bpf_map_update_elem(f->map_fd, &key, &value, BPF_ANY) ? -errno : 0;
}

void sl_bench_floor_close(struct sl_bench_floor *f)
{
	if (f->link_fd >= 0)
		close(f->link_fd);
	if (f->map_fd >= 0)
		close(f->map_fd);
	if (f->prog_fd >= 0)
		close(f->prog_fd);
	f->prog_fd = f->map_fd = f->link_fd = -1;
}

int sl_bench_floor_swap(const char *pin_root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int prog_fd, link_fd, ret = 0;

	if (snprintf(path, sizeof(path), "%s/%s", pin_root, SL_KERN_PIN_LINK_SK_MSG) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "meter-floor: the pin root is too long");
		return -ENAMETOOLONG;
	}
	link_fd = bpf_obj_get(path);
	if (link_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "meter-floor: no sk_msg link at %s: %s", path,
			 strerror(errno));
		return ret;
	}
	prog_fd = noop_prog_load();
	if (prog_fd < 0) {
		ret = prog_fd;
		snprintf(err, errlen, "meter-floor: cannot load the no-op sk_msg program: %s",
			 strerror(-ret));
	} else if (bpf_link_update(link_fd, prog_fd, NULL)) {
		ret = -errno;
		snprintf(err, errlen, "meter-floor: cannot update %s: %s", path, strerror(errno));
	}
	/* The link holds the program from now on. */
	if (prog_fd >= 0)
		close(prog_fd);
	close(link_fd);
	return ret;
}

static const char meter_floor_usage[] =
    "Usage: sluice-bench meter-floor --pin-root DIR\n"
    "\n"
    "Points a running sluiced's sk_msg link (DIR/" SL_KERN_PIN_LINK_SK_MSG ") at a no-op\n"
    "program: its sockets keep the kernel's sk_msg send path, the meter does no work\n"
    "and counts nothing until sluiced restarts (which attaches the meter again).\n"
    "For benchmarks only: `make bench` uses it for S5's floor column.\n";

int sl_bench_meter_floor_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-root", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pin_root = NULL;
	char err[PATH_MAX + 128];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_root = optarg;
			break;
		case 'h':
			fputs(meter_floor_usage, stdout);
			return 0;
		default:
			fputs(meter_floor_usage, stderr);
			return 2;
		}
	}
	if (!pin_root || optind != argc) {
		fprintf(stderr, "meter-floor: %s\n%s",
			pin_root ? "unexpected argument" : "--pin-root is required",
			meter_floor_usage);
		return 2;
	}
	if (sl_bench_floor_swap(pin_root, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
