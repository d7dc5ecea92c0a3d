// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench/floor.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The sockhash holds one socket at a time: each round uses a fresh connection. */
#define FLOOR_KEY 0

int sl_bench_floor_open(struct sl_bench_floor *f, char *err, size_t errlen)
{
	/* r0 = SK_PASS; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SK_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int ret;

	f->prog_fd = f->map_fd = f->link_fd = -1;
	f->map_fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "sluice_floor", sizeof(__u32),
				   sizeof(__u64), 1, NULL);
	if (f->map_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "floor: cannot create a sockhash: %s", strerror(errno));
		goto fail;
	}
	f->prog_fd = bpf_prog_load(BPF_PROG_TYPE_SK_MSG, "sluice_floor", "GPL", insns,
				   sizeof(insns) / sizeof(insns[0]), NULL);
	if (f->prog_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "floor: cannot load the no-op sk_msg program: %s",
			 strerror(errno));
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
