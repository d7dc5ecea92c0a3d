// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluiced: config → cgroup → kernel meter → gateway → event loop.
 *
 *   sluiced -c FILE            run
 *   sluiced --check -c FILE    validate the config and exit
 *   sluiced --cleanup [-c FILE | --pin-root DIR]   detach and unpin the meter
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "auth/auth.h"
#include "config/config.h"
#include "kern/dirlock.h"
#include "kern/kern.h"
#include "net/gateway.h"
#include "net/tls.h"
#include "policy/bundle.h"
#include "policy/policy.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: sluiced -c FILE\n"
		   "       sluiced --check -c FILE\n"
		   "       sluiced --cleanup [-c FILE | --pin-root DIR]\n"
		   "       sluiced --version\n");
}

static bool have_cap(const struct __user_cap_data_struct *data, int cap)
{
	return data[cap / 32].effective & (1u << (cap % 32));
}

/*
 * Names the first capability this config needs and the process lacks, before
 * anything is created: the kernel would refuse later with a bare EPERM and
 * leave a half-made cgroup or pin directory behind. CAP_SYS_ADMIN is asked
 * for even where this kernel would do without it (6.18 attaches to the cgroup
 * with CAP_NET_ADMIN once bpffs is mounted): the daemon must mount bpffs after
 * a reboot without systemd, and a set that works today but not after the
 * next boot is worse than one refused now.
 */
static int check_caps(const struct sl_config *cfg)
{
	static const struct {
		int cap;
		const char *name, *why;
	} meter[] = {
		{ CAP_BPF, "CAP_BPF", "to load the kernel meter" },
		{ CAP_NET_ADMIN, "CAP_NET_ADMIN", "for the sock_ops and sk_msg programs" },
		{ CAP_PERFMON, "CAP_PERFMON", "for the connection iterator" },
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "to mount bpffs when it is missing" },
	};
	const struct sl_config_addr *addrs[] = {
		&cfg->listeners.subscribers.plain, &cfg->listeners.subscribers.tls,
		&cfg->listeners.publishers.plain,  &cfg->listeners.publishers.tls,
		&cfg->listeners.admin.plain,
	};
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };
	unsigned int unprivileged = 1024;
	size_t i;
	FILE *f;

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* cannot tell: let the kernel answer */
	for (i = 0; cfg->bpf && i < sizeof(meter) / sizeof(meter[0]); i++) {
		if (have_cap(data, meter[i].cap))
			continue;
		fprintf(stderr,
			"sluiced: missing capability %s (needed %s): run sluiced as root or "
			"with CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and CAP_SYS_ADMIN (the "
			"sluiced.service unit grants them), or set `bpf: off`\n",
			meter[i].name, meter[i].why);
		return -EPERM;
	}
	if (have_cap(data, CAP_NET_BIND_SERVICE))
		return 0;
	f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	if (f) {
		if (fscanf(f, "%u", &unprivileged) != 1)
			unprivileged = 1024;
		fclose(f);
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint16_t port = addrs[i]->enabled ? addrs[i]->port : 0;

		if (!port || port >= unprivileged)
			continue;
		fprintf(stderr,
			"sluiced: %s:%u:%u: missing capability CAP_NET_BIND_SERVICE to listen on "
			"port %u (below %u): grant it, or use a port from %u up\n",
			cfg->path ? cfg->path : "config", addrs[i]->mark.line, addrs[i]->mark.col,
			port, unprivileged, unprivileged);
		return -EPERM;
	}
	return 0;
}

/* The cgroup v2 path this process started in ("0::/system.slice/sluiced.service"), or "". */
static int own_cgroup(char *buf, size_t len)
{
	char line[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		/* The root cgroup is "/": the name is then appended to the mount itself. */
		if (!strcmp(line + 3, "/"))
			line[3] = '\0';
		if (strlen(line + 3) >= len) {
			ret = -ENAMETOOLONG;
		} else {
			strcpy(buf, line + 3);
			ret = 0;
		}
		break;
	}
	fclose(f);
	return ret;
}

/*
 * The daemon's cgroup: its sockets inherit it, which is how sock_ops finds
 * them. "./NAME" is below the cgroup the daemon was started in: under a
 * systemd unit with Delegate=yes, a child of the unit's own cgroup.
 */
static int cgroup_path(const struct sl_config *cfg, char *buf, size_t len)
{
	const char *name = cfg->cgroup ? cfg->cgroup : "sluice";
	char root[PATH_MAX / 2], self[PATH_MAX / 4];
	int ret;

	if (cfg->cgroup && cfg->cgroup[0] == '/') {
		snprintf(buf, len, "%s", cfg->cgroup);
	} else {
		ret = sl_kern_cgroup2_root(root, sizeof(root));
		if (ret)
			return ret;
		self[0] = '\0';
		if (!strncmp(name, "./", 2)) {
			ret = own_cgroup(self, sizeof(self));
			if (ret)
				return ret;
			name += 2;
		}
		snprintf(buf, len, "%s%s/%s", root, self, name);
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * How long a start waits for the daemon it replaces to let go of its
 * directories: a restart that follows SIGTERM at once, while the old one
 * still drains.
 */
#define CLAIM_WAIT_MS 5000u

static void in_use(const char *key, const char *dir, const char *doing)
{
	fprintf(stderr, "sluiced: %s %s is in use by a running sluiced: %s\n", key, dir, doing);
}

/*
 * Claims dir (named by key in the config) before anything reads or writes
 * it. Returns the lock's fd or -errno after one sentence on stderr.
 */
static int claim_dir(const char *key, const char *dir, const char *doing)
{
	int ret = sl_dirlock_take(dir, CLAIM_WAIT_MS);

	if (ret == -EWOULDBLOCK)
		in_use(key, dir, doing);
	else if (ret < 0)
		fprintf(stderr, "sluiced: cannot lock %s %s: %s\n", key, dir, strerror(-ret));
	return ret;
}

/*
 * The state_dir is claimed when it can be: one that cannot be created holds
 * no journal or quota windows to protect (the gateway then says why it runs
 * without them), and on a filesystem without locks (NFS without lockd) it
 * stays unclaimed, with a warning, as before claims existed. Sets *fd (-1:
 * no claim); returns -EWOULDBLOCK when another sluiced holds it, else 0.
 */
static int claim_state_dir(const struct sl_config *cfg, int *fd)
{
	int ret;

	*fd = -1;
	if (!cfg->state_dir || sl_mkdir_p(cfg->state_dir, 0700))
		return 0;
	ret = sl_dirlock_take(cfg->state_dir, CLAIM_WAIT_MS);
	if (ret == -EWOULDBLOCK) {
		in_use("state_dir", cfg->state_dir,
		       "stop it first, or give this one its own state_dir");
		return ret;
	}
	if (ret < 0) {
		fprintf(stderr,
			"{\"msg\":\"state_dir_unlocked\",\"error\":\"%s\",\"detail\":\"a second "
			"sluiced on this state_dir would not be refused\"}\n",
			strerror(-ret));
		return 0;
	}
	*fd = ret;
	return 0;
}

static int start_meter(const struct sl_config *cfg, struct sl_kern **kern, int *pin_lock)
{
	struct sl_kern_opts opts = { 0 };
	char cg[PATH_MAX], err[512];
	int ret;

	*kern = NULL;
	ret = cgroup_path(cfg, cg, sizeof(cg));
	if (ret) {
		fprintf(stderr, "sluiced: cannot create the daemon's cgroup: %s\n", strerror(-ret));
		return ret;
	}
	/* Join before any listener exists: a socket keeps the cgroup it was created in. */
	ret = sl_kern_cgroup_join(cg);
	if (ret) {
		fprintf(stderr, "sluiced: cannot join cgroup %s: %s\n", cg, strerror(-ret));
		return ret;
	}
	ret = sl_kern_bpffs_ensure(err, sizeof(err));
	if (!ret)
		ret = sl_kern_pin_root_check(cfg->bpf_pin_dir, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "sluiced: %s\n", err);
		return ret;
	}
	ret = sl_mkdir_p(cfg->bpf_pin_dir, 0700);
	if (ret) {
		fprintf(stderr, "sluiced: cannot create pin root %s: %s\n", cfg->bpf_pin_dir,
			strerror(-ret));
		return ret;
	}
	/* Before adoption: it moves the pinned links and rewrites the application slots. */
	*pin_lock = claim_dir("bpf_pin_dir", cfg->bpf_pin_dir,
			      "stop it first, or give this one its own bpf_pin_dir");
	if (*pin_lock < 0)
		return *pin_lock;
	opts.pin_root = cfg->bpf_pin_dir;
	opts.cgroup_path = cg;
	opts.quiet = true;
	ret = sl_kern_open(kern, &opts, err, sizeof(err));
	if (ret)
		fprintf(stderr, "sluiced: %s\n", err);
	return ret;
}

/*
 * --check loads the TLS certificate, key and client CA as the start would:
 * the unit runs --check first, and a certificate that cannot load passed it
 * and then failed the start. Returns 0 or -1 after saying why.
 */
static int check_tls(const struct sl_config *cfg)
{
	struct sl_tls_ctx *ctx;
	char err[512];

	if (!cfg->listeners.subscribers.tls.enabled && !cfg->listeners.publishers.tls.enabled)
		return 0;
	if (sl_tls_ctx_new(&ctx, cfg->tls.cert_file, cfg->tls.key_file, cfg->tls.client_ca_file,
			   err, sizeof(err))) {
		fprintf(stderr, "%s: tls: %s\n", cfg->path, err);
		return -1;
	}
	sl_tls_ctx_free(ctx);
	return 0;
}

/*
 * --cleanup removes what a running daemon is using only over its refusal: the
 * meter would stop metering under it. Returns 0 or -errno.
 */
static int cleanup_pins(const char *root)
{
	char err[512];
	int lock = sl_dirlock_take(root, CLAIM_WAIT_MS), ret;

	if (lock == -EWOULDBLOCK) {
		in_use("bpf_pin_dir", root, "stop it before --cleanup");
		return lock;
	}
	ret = sl_kern_cleanup(root, err, sizeof(err));
	if (ret)
		fprintf(stderr, "sluiced: %s\n", err);
	if (lock >= 0)
		close(lock);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "pin-root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *pin_root = NULL;
	struct sl_gateway *gw = NULL;
	struct sl_kern *kern = NULL;
	struct sl_auth *auth = NULL;
	struct sl_policy *policy = NULL;
	struct sl_config cfg;
	struct sl_diag diag;
	int c, check = 0, cleanup = 0, ret, status = 1, state_lock = -1, pin_lock = -1;
	char err[512];

	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = 1;
			break;
		case 'C':
			cleanup = 1;
			break;
		case 'r':
			pin_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluiced %s, meter ABI %d\n", SL_VERSION, SL_ABI_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (pin_root && !cleanup) {
		/* Silently ignored, it would look as if the daemon pinned there. */
		fprintf(stderr, "sluiced: --pin-root goes with --cleanup; the daemon pins at the "
				"config's bpf_pin_dir\n");
		return 2;
	}
	if (cleanup && check) {
		/* One would be silently ignored, as --check --cleanup ignored --cleanup. */
		fprintf(stderr, "sluiced: --check and --cleanup do not go together\n");
		return 2;
	}
	if (cleanup && !path)
		return cleanup_pins(pin_root ? pin_root : SL_KERN_DEFAULT_PIN_ROOT) ? 1 : 0;
	if (!path) {
		usage(stderr);
		return 2;
	}

	sl_diag_init(&diag);
	/*
	 * Issuers (keys, algorithms) and plans are checked by loading them, for
	 * --check too. --cleanup needs only bpf_pin_dir: an issuer's missing key
	 * file must not keep a crashed daemon's meter attached.
	 */
	if (cleanup)
		ret = sl_config_load(path, &cfg, &diag);
	else
		ret = sl_bundle_load(path, &cfg, &auth, &policy, &diag);
	if (ret || sl_diag_count(&diag)) {
		sl_diag_print(&diag, stderr);
		if (!sl_diag_count(&diag))
			fprintf(stderr, "%s: cannot load: %s\n", path, strerror(-ret));
		sl_diag_free(&diag);
		goto out;
	}
	sl_diag_free(&diag);
	if (check) {
		if (check_tls(&cfg))
			goto out;
		printf("%s: ok\n", path);
		status = 0;
		goto out;
	}
	if (cleanup) {
		status = cleanup_pins(pin_root ? pin_root : cfg.bpf_pin_dir) ? 1 : 0;
		goto out;
	}

	if (check_caps(&cfg) || claim_state_dir(&cfg, &state_lock))
		goto out;
	if (cfg.bpf) {
		ret = start_meter(&cfg, &kern, &pin_lock);
		if (ret) {
			if (ret != -EWOULDBLOCK)
				fprintf(stderr, "sluiced: the kernel meter is required unless the "
						"config says `bpf: off`\n");
			goto out;
		}
	} else {
		fprintf(stderr, "{\"msg\":\"meter_off\",\"detail\":\"bpf: off, counting in "
				"userspace only\"}\n");
	}
	ret = sl_gateway_new(&gw, &cfg, kern, auth, policy, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "sluiced: %s\n", err[0] ? err : strerror(-ret));
	} else {
		ret = sl_gateway_run(gw);
		sl_gateway_free(gw);
	}
	status = ret ? 1 : 0;
out:
	/* Pins stay: a restarted sluiced adopts them with every counter. */
	sl_kern_close(kern);
	/* Last: everything written to the directories is written. */
	if (pin_lock >= 0)
		close(pin_lock);
	if (state_lock >= 0)
		close(state_lock);
	sl_policy_free(policy);
	sl_auth_free(auth);
	sl_config_free(&cfg);
	return status;
}
