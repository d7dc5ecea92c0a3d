// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lifecycle of the kernel meter: open → (reuse pinned maps) → load → attach
 * or adopt the pinned links → pin → use → close or detach.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kern/dirlock.h"
#include "kern/kern.h"
#include "meter.skel.h"

struct sl_kern {
	struct meter *skel;
	char pin_root[PATH_MAX];
	int link_sockops_fd;
	int link_sk_msg_fd;
	int ncpus;
	struct ring_buffer *closes;
	sl_kern_close_cb close_cb;
	void *close_ctx;
	__u32 usage_keys[SL_MAX_APPS]; /* the keys a batch read of sluice_app_usage returns */
};

/*
 * libbpf's print hook is process-wide. Keep the tail of what it said so
 * that a load failure can quote the verifier's last words in one message.
 */
static char libbpf_tail[1024];
static bool libbpf_quiet;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t used, len;
	va_list copy;

	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(copy, ap);
	if (!libbpf_quiet)
		vfprintf(stderr, fmt, copy);
	va_end(copy);
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	used = strlen(libbpf_tail);
	if (used + len >= sizeof(libbpf_tail)) {
		memmove(libbpf_tail, libbpf_tail + used / 2, used - used / 2 + 1);
		used = strlen(libbpf_tail);
	}
	if (used + len < sizeof(libbpf_tail))
		memcpy(libbpf_tail + used, line, len + 1);
	return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int pin_path(char *buf, size_t len, const char *root, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", root, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Pins live only on bpffs. A pin root elsewhere (a typo, a state directory)
 * holds someone's files, which cleanup would unlink, so it is refused. A
 * root that does not exist yet is judged by its nearest existing parent.
 */
int sl_kern_pin_root_check(const char *root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct statfs fs;
	char *slash;

	if (snprintf(path, sizeof(path), "%s", root) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	while (statfs(path, &fs)) {
		int e = errno;

		slash = strrchr(path, '/');
		if (e != ENOENT || !slash || !slash[1]) {
			set_err(err, errlen, "cannot read %s: %s", path, strerror(e));
			return -e;
		}
		slash[slash == path] = '\0';
	}
	if (fs.f_type != BPF_FS_MAGIC) {
		set_err(err, errlen,
			"%s is not on a bpf filesystem, so it cannot hold the meter's pins: "
			"bpf_pin_dir (or --pin-root) must name a directory under a bpffs mount "
			"such as /sys/fs/bpf; nothing was changed",
			root);
		return -ENOTDIR;
	}
	return 0;
}

int sl_kern_bpffs_ensure(char *err, size_t errlen)
{
	struct statfs fs;

	if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir("/sys/fs/bpf", 0700) && errno != EEXIST) {
		set_err(err, errlen, "cannot create /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		int e = errno;

		set_err(err, errlen,
			"bpffs is not mounted at /sys/fs/bpf and mounting it failed (%s): "
			"run as root or mount it with `mount -t bpf bpf /sys/fs/bpf`",
			strerror(e));
		return -e;
	}
	return 0;
}

int sl_kern_cgroup2_root(char *buf, size_t len)
{
	char line[PATH_MAX + 128], dev[64], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %4095s %63s", dev, dir, type) != 3)
			continue;
		if (strcmp(type, "cgroup2") != 0)
			continue;
		if (strlen(dir) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, dir);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

int sl_kern_cgroup_join(const char *cgroup_path)
{
	char path[PATH_MAX];
	int fd, n, ret = 0;
	char pid[32];

	if (pin_path(path, sizeof(path), cgroup_path, "cgroup.procs"))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (write(fd, pid, n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

/* Refuses pins left by a meter of another ABI before libbpf trips over them. */
static int check_pinned_abi(const char *root, char *err, size_t errlen)
{
	struct sl_info info;
	char path[PATH_MAX];
	__u32 key = 0;
	int fd, ret = 0;

	if (pin_path(path, sizeof(path), root, "sluice_info"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_map_lookup_elem(fd, &key, &info) == 0 && info.abi_version &&
	    info.abi_version != SL_ABI_VERSION) {
		set_err(err, errlen,
			"the maps pinned under %s are from meter ABI %u, this build uses ABI %u: "
			"run `sluiced --cleanup` (counters are lost) or start the matching version",
			root, info.abi_version, SL_ABI_VERSION);
		ret = -EPROTO;
	}
	close(fd);
	return ret;
}

static int write_info(struct sl_kern *k)
{
	int fd = bpf_map__fd(k->skel->maps.sluice_info);
	struct sl_info info = { 0 };
	struct timespec ts;
	__u32 key = 0;

	if (bpf_map_lookup_elem(fd, &key, &info))
		return -errno;
	if (info.abi_version)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	info.abi_version = SL_ABI_VERSION;
	info.created_ns = (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	return bpf_map_update_elem(fd, &key, &info, BPF_ANY) ? -errno : 0;
}

/*
 * Whether a pinned cgroup link still serves the cgroup the daemon joined. The
 * cgroup may have been removed and made again since (the old link is then
 * severed: cgroup id 0, ENOLINK on update), or the config may now name
 * another one; adopting the link would leave every new socket unmetered. On
 * cgroup v2 the cgroup id is the inode number of the cgroup's directory.
 */
static bool link_serves_cgroup(int link_fd, int cg_fd)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	struct stat st;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link_fd, &info, &len) || fstat(cg_fd, &st))
		return true; /* cannot tell: adopt it as before */
	return info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id == (__u64)st.st_ino;
}

/*
 * Adopts the pinned link (moving it to the program just loaded) or creates
 * and pins a new one. Sockets already in the sockhash keep the program they
 * were inserted with; only new ones get the new program (KERNEL-NOTES §3).
 */
static int attach_link(struct sl_kern *k, const char *name, int prog_fd, int target_fd,
		       enum bpf_attach_type type, int *out_fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret;

	ret = pin_path(path, sizeof(path), k->pin_root, name);
	if (ret)
		return ret;
	fd = bpf_obj_get(path);
	if (fd >= 0 && type == BPF_CGROUP_SOCK_OPS && !link_serves_cgroup(fd, target_fd)) {
		/* The counters live in the pinned maps, not in the link: replacing it loses none.
		 */
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
		fd = -1;
	}
	if (fd >= 0) {
		if (bpf_link_update(fd, prog_fd, NULL)) {
			ret = -errno;
			set_err(err, errlen,
				"cannot move the pinned link %s to the new program: %s", path,
				strerror(-ret));
			close(fd);
			return ret;
		}
		*out_fd = fd;
		return 0;
	}
	fd = bpf_link_create(prog_fd, target_fd, type, NULL);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EPERM && type == BPF_CGROUP_SOCK_OPS)
			set_err(err, errlen,
				"attaching sock_ops to the cgroup was refused (EPERM): another "
				"program is attached there without BPF_F_ALLOW_MULTI; detach it "
				"(bpftool cgroup show) or use another cgroup");
		else
			set_err(err, errlen, "cannot attach %s: %s", name, strerror(-ret));
		return ret;
	}
	if (bpf_obj_pin(fd, path)) {
		ret = -errno;
		set_err(err, errlen, "cannot pin %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	*out_fd = fd;
	return 0;
}

/* Iterator links cannot be updated: replace the pinned file. */
static int pin_conns_iter(struct sl_kern *k, char *err, size_t errlen)
{
	struct bpf_link *link;
	char path[PATH_MAX];
	int ret;

	ret = pin_path(path, sizeof(path), k->pin_root, SL_KERN_PIN_CONNS);
	if (ret)
		return ret;
	link = bpf_program__attach_iter(k->skel->progs.sluice_conns, NULL);
	if (!link) {
		ret = -errno;
		set_err(err, errlen, "cannot create the conns iterator: %s", strerror(-ret));
		return ret;
	}
	unlink(path);
	ret = bpf_link__pin(link, path);
	if (ret)
		set_err(err, errlen, "cannot pin %s: %s", path, strerror(-ret));
	bpf_link__destroy(link);
	return ret;
}

static int on_close_record(void *ctx, void *data, size_t len)
{
	struct sl_kern *k = ctx;

	if (len >= sizeof(struct sl_close_record) && k->close_cb)
		k->close_cb(k->close_ctx, data);
	return 0;
}

static const char *load_hint(int err)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return "run sluiced as root, or with CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN and "
		       "CAP_PERFMON; or set `bpf: off` to count in userspace only";
	case EINVAL:
	case E2BIG:
		return "the kernel refused the programs: it needs Linux 6.1 or later with BTF, "
		       "sockhash, sk_msg, sk_storage, ringbuf and bpf_loop";
	default:
		return "see the libbpf messages above";
	}
}

int sl_kern_open(struct sl_kern **out, const struct sl_kern_opts *opts, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	const char *root = opts && opts->pin_root ? opts->pin_root : SL_KERN_DEFAULT_PIN_ROOT;
	struct sl_kern *k;
	int cg_fd = -1, ret;

	*out = NULL;
	libbpf_quiet = opts && opts->quiet;
	libbpf_tail[0] = '\0';
	libbpf_set_print(libbpf_print);

	if (!opts || !opts->cgroup_path) {
		set_err(err, errlen, "no cgroup given to attach the meter to");
		return -EINVAL;
	}
	if (strlen(root) >= PATH_MAX - 32) {
		set_err(err, errlen, "pin root %s is too long", root);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->link_sockops_fd = -1;
	k->link_sk_msg_fd = -1;
	strcpy(k->pin_root, root);

	ret = sl_kern_bpffs_ensure(err, errlen);
	if (!ret)
		ret = sl_kern_pin_root_check(root, err, errlen);
	if (ret)
		goto fail;
	ret = sl_mkdir_p(root, 0700);
	if (ret) {
		set_err(err, errlen, "cannot create pin root %s: %s", root, strerror(-ret));
		goto fail;
	}
	ret = check_pinned_abi(root, err, errlen);
	if (ret)
		goto fail;

	k->ncpus = libbpf_num_possible_cpus();
	if (k->ncpus <= 0) {
		ret = k->ncpus ? k->ncpus : -EINVAL;
		set_err(err, errlen, "cannot count the possible CPUs");
		goto fail;
	}

	open_opts.pin_root_path = root;
	k->skel = meter__open_opts(&open_opts);
	if (!k->skel) {
		ret = -errno;
		set_err(err, errlen, "cannot open the meter's BPF object: %s", strerror(-ret));
		goto fail;
	}
	ret = meter__load(k->skel);
	if (ret) {
		set_err(err, errlen, "cannot load the kernel meter (%s): %s", strerror(-ret),
			load_hint(ret));
		goto fail;
	}
	ret = write_info(k);
	if (ret) {
		set_err(err, errlen, "cannot write sluice_info: %s", strerror(-ret));
		goto fail;
	}

	cg_fd = open(opts->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		ret = -errno;
		set_err(err, errlen, "cannot open cgroup %s: %s", opts->cgroup_path,
			strerror(-ret));
		goto fail;
	}
	/* sk_msg first: a socket gets its programs when sock_ops inserts it. */
	ret = attach_link(k, SL_KERN_PIN_LINK_SK_MSG, bpf_program__fd(k->skel->progs.sluice_meter),
			  bpf_map__fd(k->skel->maps.sluice_sockhash), BPF_SK_MSG_VERDICT,
			  &k->link_sk_msg_fd, err, errlen);
	if (ret)
		goto fail;
	ret =
	    attach_link(k, SL_KERN_PIN_LINK_SOCKOPS, bpf_program__fd(k->skel->progs.sluice_sockops),
			cg_fd, BPF_CGROUP_SOCK_OPS, &k->link_sockops_fd, err, errlen);
	if (ret)
		goto fail;
	ret = pin_conns_iter(k, err, errlen);
	if (ret)
		goto fail;

	k->closes =
	    ring_buffer__new(bpf_map__fd(k->skel->maps.sluice_closes), on_close_record, k, NULL);
	if (!k->closes) {
		ret = -errno;
		set_err(err, errlen, "cannot open the close-record ring buffer: %s",
			strerror(-ret));
		goto fail;
	}
	close(cg_fd);
	*out = k;
	return 0;
fail:
	if (cg_fd >= 0)
		close(cg_fd);
	sl_kern_close(k);
	/* Leave no empty pin root behind; one with pins in it stays (rmdir fails). */
	rmdir(root);
	return ret;
}

void sl_kern_close(struct sl_kern *k)
{
	if (!k)
		return;
	ring_buffer__free(k->closes);
	if (k->link_sockops_fd >= 0)
		close(k->link_sockops_fd);
	if (k->link_sk_msg_fd >= 0)
		close(k->link_sk_msg_fd);
	meter__destroy(k->skel);
	free(k);
}

/* Deletes every key of the sockhash so that no socket keeps running the programs. */
static int empty_sockhash(int fd)
{
	__u64 key, next;
	int ret = 0;

	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(fd, &key)) {
			ret = -errno;
			break;
		}
	}
	return ret;
}

int sl_kern_cleanup(const char *pin_root, char *err, size_t errlen)
{
	static const char *const links[] = { SL_KERN_PIN_LINK_SOCKOPS, SL_KERN_PIN_LINK_SK_MSG };
	const char *root = pin_root ? pin_root : SL_KERN_DEFAULT_PIN_ROOT;
	char path[PATH_MAX];
	struct dirent *de;
	size_t i;
	DIR *dir;
	int fd, ret = 0;

	if (access(root, F_OK) && errno == ENOENT)
		return 0;
	ret = sl_kern_pin_root_check(root, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (pin_path(path, sizeof(path), root, links[i]))
			return -ENAMETOOLONG;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_link_detach(fd) && !ret) {
			ret = -errno;
			set_err(err, errlen, "cannot detach %s: %s", path, strerror(-ret));
		}
		close(fd);
	}
	/* Detaching stops new sockets; emptying the sockhash stops the existing ones. */
	if (pin_path(path, sizeof(path), root, "sluice_sockhash") == 0) {
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			int e = empty_sockhash(fd);

			if (e && !ret) {
				ret = e;
				set_err(err, errlen, "cannot empty %s: %s", path, strerror(-e));
			}
			close(fd);
		}
	}
	dir = opendir(root);
	if (!dir)
		return errno == ENOENT ? ret : -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (pin_path(path, sizeof(path), root, de->d_name) == 0 && unlink(path) && !ret) {
			ret = -errno;
			set_err(err, errlen, "cannot remove %s: %s", path, strerror(-ret));
		}
	}
	closedir(dir);
	if (rmdir(root) && errno != ENOENT && !ret) {
		ret = -errno;
		set_err(err, errlen, "cannot remove %s: %s", root, strerror(-ret));
	}
	return ret;
}

int sl_kern_detach(struct sl_kern *k)
{
	char root[PATH_MAX];
	int ret;

	if (!k)
		return 0;
	strcpy(root, k->pin_root);
	if (k->link_sockops_fd >= 0)
		bpf_link_detach(k->link_sockops_fd);
	if (k->link_sk_msg_fd >= 0)
		bpf_link_detach(k->link_sk_msg_fd);
	sl_kern_close(k);
	ret = sl_kern_cleanup(root, NULL, 0);
	return ret;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

int sl_kern_port_add(struct sl_kern *k, __u16 port, enum sl_framing framing)
{
	struct sl_port value = { .framing = framing };

	if (framing >= SL_FRAMING__MAX)
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(k->skel->maps.sluice_ports), &port, &value, BPF_ANY)
		   ? -errno
		   : 0;
}

int sl_kern_port_del(struct sl_kern *k, __u16 port)
{
	return bpf_map_delete_elem(bpf_map__fd(k->skel->maps.sluice_ports), &port) ? -errno : 0;
}

int sl_kern_sock_get(struct sl_kern *k, int fd, struct sl_sock *out)
{
	return bpf_map_lookup_elem(bpf_map__fd(k->skel->maps.sluice_socks), &fd, out) ? -errno : 0;
}

int sl_kern_sock_configure(struct sl_kern *k, int fd, const struct sl_sock_config *cfg)
{
	int map_fd = bpf_map__fd(k->skel->maps.sluice_socks);
	struct sl_sock st;

	if (cfg->framing >= SL_FRAMING__MAX || cfg->app_slot >= SL_MAX_APPS)
		return -EINVAL;
	if (bpf_map_lookup_elem(map_fd, &fd, &st))
		return -errno;
	st.framing = cfg->framing;
	st.app_slot = cfg->app_slot;
	st.event_cap = cfg->event_cap;
	/* sock_ops stamped established_ns with bpf_ktime_get_ns(), which is CLOCK_MONOTONIC. */
	st.deadline_ns = cfg->max_conn_time_ns ? st.established_ns + cfg->max_conn_time_ns : 0;
	st.rate_bps = cfg->rate_bps;
	st.burst_bytes = cfg->burst_bytes ? cfg->burst_bytes : cfg->rate_bps;
	st.tokens = st.burst_bytes;
	st.tokens_ns = mono_ns();
	/* Framing starts afresh at frame_start; it must not lie behind what was written. */
	st.next_hdr = st.seq_base + cfg->frame_start;
	st.flags = 0;
	st.stash_len = 0;
	st.drop_rem = 0;
	st.npending = 0;
	st.pending_events = 0;
	st.pending_replies = 0;
	/* The memo holds a parse under the old framing. */
	st.memo_len = 0;
	/* 0 would match a stream that starts at seq 0: mark the ring unused instead. */
	for (int i = 0; i < SL_REPLY_MARKS; i++)
		st.reply_seq[i] = st.next_hdr - 1;
	st.reply_head = 0;
	return bpf_map_update_elem(map_fd, &fd, &st, BPF_EXIST) ? -errno : 0;
}

int sl_kern_sock_set_plan(struct sl_kern *k, int fd, const struct sl_sock_config *cfg)
{
	int map_fd = bpf_map__fd(k->skel->maps.sluice_socks);
	struct sl_sock st;

	if (cfg->app_slot >= SL_MAX_APPS)
		return -EINVAL;
	if (bpf_map_lookup_elem(map_fd, &fd, &st))
		return -errno;
	st.app_slot = cfg->app_slot;
	st.deadline_ns = cfg->max_conn_time_ns ? st.established_ns + cfg->max_conn_time_ns : 0;
	if (st.rate_bps != cfg->rate_bps) {
		st.rate_bps = cfg->rate_bps;
		st.burst_bytes = cfg->burst_bytes ? cfg->burst_bytes : cfg->rate_bps;
		st.tokens = st.burst_bytes;
		st.tokens_ns = mono_ns();
	}
	return bpf_map_update_elem(map_fd, &fd, &st, BPF_EXIST) ? -errno : 0;
}

int sl_kern_sock_set_reply_marks(struct sl_kern *k, int fd, const __u64 *offsets, unsigned n)
{
	int map_fd = bpf_map__fd(k->skel->maps.sluice_socks);
	struct sl_sock st;
	unsigned i;

	if (!n || n > SL_REPLY_MARKS)
		return -EINVAL;
	if (bpf_map_lookup_elem(map_fd, &fd, &st))
		return -errno;
	/* The slots past n repeat the last mark: a duplicate marks nothing new. */
	for (i = 0; i < SL_REPLY_MARKS; i++)
		st.reply_seq[i] = st.seq_base + (__u32)offsets[i < n ? i : n - 1];
	st.reply_head = 0;
	return bpf_map_update_elem(map_fd, &fd, &st, BPF_EXIST) ? -errno : 0;
}

int sl_kern_sock_resync(struct sl_kern *k, int fd)
{
	int map_fd = bpf_map__fd(k->skel->maps.sluice_sockhash);
	socklen_t len = sizeof(__u64);
	__u64 cookie, value = (__u64)fd;

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return -errno;
	if (bpf_map_delete_elem(map_fd, &cookie) && errno != ENOENT)
		return -errno;
	return bpf_map_update_elem(map_fd, &cookie, &value, BPF_NOEXIST) ? -errno : 0;
}

int sl_kern_app_set_limits(struct sl_kern *k, __u32 slot, const struct sl_app_limits *limits)
{
	struct sl_app_limits lim = *limits;
	struct timespec tai, utc;
	__s64 diff_ns;

	if (slot >= SL_MAX_APPS)
		return -EINVAL;
	if (lim.window_ns && !lim.tai_offset_ns) {
		clock_gettime(CLOCK_TAI, &tai);
		clock_gettime(CLOCK_REALTIME, &utc);
		diff_ns =
		    (__s64)(tai.tv_sec - utc.tv_sec) * 1000000000ll + (tai.tv_nsec - utc.tv_nsec);
		/* Whole seconds: the offset is the leap-second count; the rest is read jitter. */
		lim.tai_offset_ns = (__u64)((diff_ns + 500000000ll) / 1000000000ll) * 1000000000ull;
	}
	return bpf_map_update_elem(bpf_map__fd(k->skel->maps.sluice_app_limits), &slot, &lim,
				   BPF_ANY)
		   ? -errno
		   : 0;
}

int sl_kern_app_limits(struct sl_kern *k, __u32 slot, struct sl_app_limits *out)
{
	if (slot >= SL_MAX_APPS)
		return -EINVAL;
	return bpf_map_lookup_elem(bpf_map__fd(k->skel->maps.sluice_app_limits), &slot, out)
		   ? -errno
		   : 0;
}

int sl_kern_app_usage(struct sl_kern *k, __u32 slot, struct sl_app_usage *out)
{
	if (slot >= SL_MAX_APPS)
		return -EINVAL;
	return bpf_map_lookup_elem(bpf_map__fd(k->skel->maps.sluice_app_usage), &slot, out) ? -errno
											    : 0;
}

int sl_kern_app_usage_all(struct sl_kern *k, struct sl_app_usage *out, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 next = 0, count = n;
	int fd = bpf_map__fd(k->skel->maps.sluice_app_usage);

	if (!n || n > SL_MAX_APPS)
		return -EINVAL;
	/* A batch that reaches the array's end ends with ENOENT, every entry copied. */
	if (bpf_map_lookup_batch(fd, NULL, &next, k->usage_keys, out, &count, &opts) &&
	    errno != ENOENT)
		return -errno;
	return count == n ? 0 : -EIO;
}

int sl_kern_app_reset(struct sl_kern *k, __u32 slot)
{
	struct sl_app_usage zero = { 0 };

	if (slot >= SL_MAX_APPS)
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(k->skel->maps.sluice_app_usage), &slot, &zero,
				   BPF_ANY)
		   ? -errno
		   : 0;
}

int sl_kern_app_restore(struct sl_kern *k, __u32 slot, const struct sl_app_usage *saved)
{
	int fd = bpf_map__fd(k->skel->maps.sluice_app_usage);
	struct sl_app_usage now;

	if (slot >= SL_MAX_APPS)
		return -EINVAL;
	if (bpf_map_lookup_elem(fd, &slot, &now))
		return -errno;
	/* Live counts win: the pins survived, so they are newer than any file. */
	if (now.window_start_ns || now.events_total || now.events)
		return -EEXIST;
	return bpf_map_update_elem(fd, &slot, saved, BPF_ANY) ? -errno : 0;
}

int sl_kern_drops(struct sl_kern *k, struct sl_drop_count out[SL_DROP__MAX])
{
	int fd = bpf_map__fd(k->skel->maps.sluice_drops);
	struct sl_drop_count *percpu;
	__u32 reason;
	int cpu, ret = 0;

	percpu = calloc(k->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (reason = 0; reason < SL_DROP__MAX; reason++) {
		out[reason].frames = out[reason].bytes = 0;
		if (bpf_map_lookup_elem(fd, &reason, percpu)) {
			ret = -errno;
			break;
		}
		for (cpu = 0; cpu < k->ncpus; cpu++) {
			out[reason].frames += percpu[cpu].frames;
			out[reason].bytes += percpu[cpu].bytes;
		}
	}
	free(percpu);
	return ret;
}

int sl_kern_stats(struct sl_kern *k, __u64 out[SL_STAT__MAX])
{
	int fd = bpf_map__fd(k->skel->maps.sluice_stats);
	__u64 *percpu;
	__u32 stat;
	int cpu, ret = 0;

	percpu = calloc(k->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (stat = 0; stat < SL_STAT__MAX; stat++) {
		out[stat] = 0;
		if (bpf_map_lookup_elem(fd, &stat, percpu)) {
			ret = -errno;
			break;
		}
		for (cpu = 0; cpu < k->ncpus; cpu++)
			out[stat] += percpu[cpu];
	}
	free(percpu);
	return ret;
}

int sl_kern_closes_poll(struct sl_kern *k, sl_kern_close_cb cb, void *ctx, int timeout_ms)
{
	int n;

	k->close_cb = cb;
	k->close_ctx = ctx;
	n = ring_buffer__poll(k->closes, timeout_ms);
	k->close_cb = NULL;
	k->close_ctx = NULL;
	return n;
}

int sl_kern_closes_fd(struct sl_kern *k)
{
	return ring_buffer__epoll_fd(k->closes);
}

int sl_kern_closes_consume(struct sl_kern *k, sl_kern_close_cb cb, void *ctx)
{
	int n;

	k->close_cb = cb;
	k->close_ctx = ctx;
	n = ring_buffer__consume(k->closes);
	k->close_cb = NULL;
	k->close_ctx = NULL;
	return n;
}
