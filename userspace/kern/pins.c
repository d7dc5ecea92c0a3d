// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Read-only inspection of the meter's pins (see pins.h). Works on whatever
 * is pinned, without the skeleton: the types come from the kernel (map and
 * link info, the maps' BTF), so that a sluicectl of one version can still
 * look at the pins of another.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kern/kern.h"
#include "kern/pins.h"

/* Kernel-internal errno that BPF syscalls leak to userspace (not in errno.h). */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/*
 * Debian 12's uapi headers (6.1) predate these; the running kernel (6.18)
 * has them. Values are uapi, so they cannot change.
 */
#define LINK_TYPE_SOCKMAP 14
#define MAP_TYPE_USER_RINGBUF 31
#define MAP_TYPE_CGRP_STORAGE 32

/* Deep enough for any real map value; a bound because BTF comes from outside. */
#define BTF_JSON_MAX_DEPTH 32

#define PIN_PREFIX "sluice_"

enum obj_kind {
	OBJ_OTHER = 0,
	OBJ_MAP,
	OBJ_PROG,
	OBJ_LINK,
};

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* There is no syscall that says what a BPF fd is; bpftool asks /proc too. */
static enum obj_kind fd_kind(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return OBJ_OTHER;
	target[n] = '\0';
	if (strstr(target, "bpf-map"))
		return OBJ_MAP;
	if (strstr(target, "bpf-prog"))
		return OBJ_PROG;
	if (strstr(target, "bpf-link") || strstr(target, "bpf_link"))
		return OBJ_LINK;
	return OBJ_OTHER;
}

static int root_check(const char *root, char *err, size_t errlen)
{
	struct statfs st;

	if (statfs(root, &st) < 0) {
		if (errno == ENOENT)
			return fail(
			    err, errlen, -ENOENT,
			    "%s does not exist: the meter is not loaded (is sluiced running?) "
			    "or it pins elsewhere (--pin-root, SLUICE_PIN_ROOT)",
			    root);
		return fail(err, errlen, -errno, "cannot read %s: %s", root, strerror(errno));
	}
	if (st.f_type != BPF_FS_MAGIC)
		return fail(err, errlen, -EINVAL,
			    "%s is not on a bpf filesystem: pass the meter's pin directory "
			    "(--pin-root)",
			    root);
	return 0;
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/*
 * Opens a pin read-only where the kernel allows it: maps take BPF_F_RDONLY,
 * links refuse any flag but read-write (and are read-only to us anyway: we
 * only ask for their info).
 */
static int pin_open(const char *root, const char *name, int *fd, enum obj_kind *kind)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
	char path[PATH_MAX];
	int ret;

	ret = snprintf(path, sizeof(path), "%s/%s", root, name);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -ENAMETOOLONG;
	ret = bpf_obj_get_opts(path, &opts);
	if (ret == -EINVAL)
		ret = bpf_obj_get(path);
	if (ret < 0)
		return ret;
	*fd = ret;
	*kind = fd_kind(ret);
	return 0;
}

/*
 * Lists the BPF objects pinned in root, in name order, as an array of
 * entry_size entries: fill makes the entry of one pin from its fd and returns
 * false to leave that pin out. A pin that vanished or is not a BPF object is
 * not one of ours and is left out too. *out is NULL when nothing is listed.
 */
static int pins_collect(const char *root, size_t entry_size,
			bool (*fill)(void *entry, const char *pin, int fd, enum obj_kind kind),
			void **out, size_t *count, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	enum obj_kind kind;
	char *entries;
	int n, i, fd, ret;
	size_t k = 0;

	*out = NULL;
	*count = 0;
	ret = root_check(root, err, errlen);
	if (ret)
		return ret;
	n = scandir(root, &names, skip_dots, alphasort);
	if (n < 0)
		return fail(err, errlen, -errno, "cannot list %s: %s", root, strerror(errno));
	entries = calloc(n ? n : 1, entry_size);
	if (!entries) {
		ret = fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (pin_open(root, names[i]->d_name, &fd, &kind))
			continue;
		k += fill(entries + k * entry_size, names[i]->d_name, fd, kind);
		close(fd);
	}
	if (k) {
		*out = entries;
		*count = k;
		entries = NULL;
	}
out:
	free(entries);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

static void map_type_name(__u32 type, char *buf, size_t len)
{
	const char *s = libbpf_bpf_map_type_str(type);

	if (!s && type == MAP_TYPE_USER_RINGBUF)
		s = "user_ringbuf";
	if (!s && type == MAP_TYPE_CGRP_STORAGE)
		s = "cgrp_storage";
	if (s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "type %u", type);
}

static void map_fill(struct sl_pins_map *m, const char *pin, const struct bpf_map_info *info)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", pin);
	snprintf(m->kernel_name, sizeof(m->kernel_name), "%s", info->name);
	map_type_name(info->type, m->type_name, sizeof(m->type_name));
	m->id = info->id;
	m->type = info->type;
	m->key_size = info->key_size;
	m->value_size = info->value_size;
	m->max_entries = info->max_entries;
	m->flags = info->map_flags;
	m->btf_id = info->btf_id;
	m->has_btf = info->btf_id && info->btf_value_type_id;
}

static bool map_entry(void *entry, const char *pin, int fd, enum obj_kind kind)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (kind != OBJ_MAP || bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	map_fill(entry, pin, &info);
	return true;
}

int sl_pins_map_list(const char *pin_root, struct sl_pins_map **maps, size_t *count, char *err,
		     size_t errlen)
{
	void *list;
	int ret = pins_collect(pin_root, sizeof(**maps), map_entry, &list, count, err, errlen);

	*maps = list;
	return ret;
}

/* --- BTF to JSON -------------------------------------------------------- */

/* jansson holds signed 64-bit integers; larger values go out as strings. */
static json_t *json_u64(__u64 v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t)v);
	return json_string(buf);
}

static json_t *json_hex_bytes(const __u8 *data, size_t size)
{
	json_t *arr = json_array();
	char buf[8];
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; i < size; i++) {
		snprintf(buf, sizeof(buf), "0x%02x", data[i]);
		if (json_array_append_new(arr, json_string(buf))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/*
 * Reads nbits (at most 64) starting bit_off bits into data, little-endian as
 * on every machine sluice runs on (x86-64), as bitfields are laid out there.
 */
static int read_bits(const __u8 *data, size_t size, __u32 bit_off, __u32 nbits, __u64 *out)
{
	size_t first = bit_off / 8, last = (bit_off + nbits + 7) / 8, i;
	unsigned __int128 acc = 0;

	if (nbits == 0 || nbits > 64 || last > size || last - first > 16)
		return -EINVAL;
	for (i = last; i > first; i--)
		acc = (acc << 8) | data[i - 1];
	acc >>= bit_off % 8;
	*out = nbits == 64 ? (__u64)acc : (__u64)acc & ((1ULL << nbits) - 1);
	return 0;
}

static __s64 sign_extend(__u64 v, __u32 nbits)
{
	__u64 sign = 1ULL << (nbits - 1);

	if (nbits >= 64)
		return (__s64)v;
	return (__s64)((v ^ sign) - sign);
}

/* bit_off and bitfield are non-zero only for bitfield struct members. */
static int int_json(const struct btf_type *t, const __u8 *data, size_t size, __u32 bit_off,
		    __u32 bitfield, json_t **out)
{
	__u32 enc = btf_int_encoding(t), nbits = bitfield ? bitfield : btf_int_bits(t);
	char buf[40];
	__u64 v;
	int ret;

	bit_off += btf_int_offset(t);
	if (nbits > 64) {
		/* 128-bit integers: no JSON number holds them, print them in hex. */
		size_t n = (nbits + 7) / 8, i, pos = 2;

		if (bit_off % 8 || bit_off / 8 + n > size || n > 16)
			return -EINVAL;
		memcpy(buf, "0x", 2);
		for (i = n; i > 0; i--)
			pos += snprintf(buf + pos, sizeof(buf) - pos, "%02x",
					data[bit_off / 8 + i - 1]);
		*out = json_string(buf);
		return *out ? 0 : -ENOMEM;
	}
	ret = read_bits(data, size, bit_off, nbits, &v);
	if (ret)
		return ret;
	if (enc & BTF_INT_BOOL)
		*out = json_boolean(v != 0);
	else if (enc & BTF_INT_SIGNED)
		*out = json_integer(sign_extend(v, nbits));
	else
		*out = json_u64(v);
	return *out ? 0 : -ENOMEM;
}

static int enum_json(const struct btf *btf, const struct btf_type *t, const __u8 *data, size_t size,
		     __u32 bit_off, __u32 bitfield, json_t **out)
{
	__u32 nbits = bitfield ? bitfield : t->size * 8, i, n = btf_vlen(t);
	bool is_signed = btf_kflag(t);
	__u64 v, ev;
	int ret;

	ret = read_bits(data, size, bit_off, nbits, &v);
	if (ret)
		return ret;
	if (is_signed)
		v = (__u64)sign_extend(v, nbits);
	for (i = 0; i < n; i++) {
		const char *name;

		if (btf_is_enum64(t)) {
			ev = btf_enum64_value(&btf_enum64(t)[i]);
			name = btf__name_by_offset(btf, btf_enum64(t)[i].name_off);
		} else {
			ev = is_signed ? (__u64)(__s64)btf_enum(t)[i].val
				       : (__u32)btf_enum(t)[i].val;
			name = btf__name_by_offset(btf, btf_enum(t)[i].name_off);
		}
		if (ev == v && name && name[0]) {
			*out = json_string(name);
			return *out ? 0 : -ENOMEM;
		}
	}
	*out = is_signed ? json_integer((__s64)v) : json_u64(v);
	return *out ? 0 : -ENOMEM;
}

static int btf_json(const struct btf *btf, __u32 id, const __u8 *data, size_t size, int depth,
		    json_t **out);

static int members_json(const struct btf *btf, const struct btf_type *t, const __u8 *data,
			size_t size, int depth, json_t *obj)
{
	const struct btf_member *m = btf_members(t);
	__u32 i, n = btf_vlen(t);
	json_t *val;
	int ret;

	for (i = 0; i < n; i++, m++) {
		__u32 off = btf_member_bit_offset(t, i), bits = btf_member_bitfield_size(t, i);
		const char *name = btf__name_by_offset(btf, m->name_off);

		if (bits || off % 8) {
			const struct btf_type *mt;
			int mid = btf__resolve_type(btf, m->type);

			if (mid < 0)
				return mid;
			mt = btf__type_by_id(btf, mid);
			if (btf_is_int(mt))
				ret = int_json(mt, data, size, off, bits, &val);
			else if (btf_is_any_enum(mt))
				ret = enum_json(btf, mt, data, size, off, bits, &val);
			else
				ret = -EINVAL;
		} else {
			if (off / 8 > size)
				return -EINVAL;
			ret =
			    btf_json(btf, m->type, data + off / 8, size - off / 8, depth + 1, &val);
		}
		if (ret)
			return ret;
		/* Anonymous struct/union members read as the parent's in C: flatten. */
		if ((!name || !name[0]) && json_is_object(val)) {
			ret = json_object_update(obj, val);
			json_decref(val);
		} else {
			ret = json_object_set_new(obj, name && name[0] ? name : "?", val);
		}
		if (ret)
			return -ENOMEM;
	}
	return 0;
}

static int array_json(const struct btf *btf, const struct btf_type *t, const __u8 *data,
		      size_t size, int depth, json_t *arr)
{
	const struct btf_array *a = btf_array(t);
	__s64 esize = btf__resolve_size(btf, a->type);
	json_t *val;
	__u32 i;
	int ret;

	if (esize < 0)
		return (int)esize;
	if ((__u64)esize * a->nelems > size)
		return -EINVAL;
	for (i = 0; i < a->nelems; i++) {
		ret = btf_json(btf, a->type, data + i * esize, size - i * esize, depth + 1, &val);
		if (ret)
			return ret;
		if (json_array_append_new(arr, val))
			return -ENOMEM;
	}
	return 0;
}

static int datasec_json(const struct btf *btf, const struct btf_type *t, const __u8 *data,
			size_t size, int depth, json_t *obj)
{
	const struct btf_var_secinfo *v = btf_var_secinfos(t);
	__u32 i, n = btf_vlen(t);
	json_t *val;
	int ret;

	for (i = 0; i < n; i++, v++) {
		const struct btf_type *var = btf__type_by_id(btf, v->type);

		if (!var || (__u64)v->offset + v->size > size)
			return -EINVAL;
		ret = btf_json(btf, v->type, data + v->offset, v->size, depth + 1, &val);
		if (ret)
			return ret;
		if (json_object_set_new(obj, btf__name_by_offset(btf, var->name_off), val))
			return -ENOMEM;
	}
	return 0;
}

static int btf_json(const struct btf *btf, __u32 id, const __u8 *data, size_t size, int depth,
		    json_t **out)
{
	const struct btf_type *t;
	json_t *c = NULL;
	int ret;

	*out = NULL;
	if (depth > BTF_JSON_MAX_DEPTH)
		return -ELOOP;
	t = btf__type_by_id(btf, id);
	if (!t)
		return -EINVAL;
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
		return int_json(t, data, size, 0, 0, out);
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		if (t->size > size)
			return -EINVAL;
		return enum_json(btf, t, data, size, 0, 0, out);
	case BTF_KIND_PTR:
		if (sizeof(__u64) > size)
			return -EINVAL;
		*out = json_u64(*(const __u64 *)data);
		return *out ? 0 : -ENOMEM;
	case BTF_KIND_FLOAT:
		if (t->size > size)
			return -EINVAL;
		if (t->size == sizeof(float))
			*out = json_real(*(const float *)data);
		else if (t->size == sizeof(double))
			*out = json_real(*(const double *)data);
		else
			*out = json_hex_bytes(data, t->size);
		return *out ? 0 : -ENOMEM;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
	case BTF_KIND_VAR:
		return btf_json(btf, t->type, data, size, depth + 1, out);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		if (t->size > size)
			return -EINVAL;
		c = json_object();
		ret = c ? members_json(btf, t, data, size, depth, c) : -ENOMEM;
		break;
	case BTF_KIND_ARRAY:
		c = json_array();
		ret = c ? array_json(btf, t, data, size, depth, c) : -ENOMEM;
		break;
	case BTF_KIND_DATASEC:
		c = json_object();
		ret = c ? datasec_json(btf, t, data, size, depth, c) : -ENOMEM;
		break;
	default:
		/* void, forward declarations, functions: nothing to read. */
		*out = json_null();
		return 0;
	}
	if (ret) {
		json_decref(c);
		return ret;
	}
	*out = c;
	return 0;
}

int sl_pins_btf_json(const struct btf *btf, __u32 type_id, const void *data, size_t size,
		     json_t **out)
{
	__s64 need = btf__resolve_size(btf, type_id);

	*out = NULL;
	if (need < 0)
		return (int)need;
	if ((__u64)need > size)
		return -EINVAL;
	return btf_json(btf, type_id, data, size, 0, out);
}

/* --- map dumps ---------------------------------------------------------- */

struct map_dump {
	int fd;
	char name[NAME_MAX + 1];
	struct bpf_map_info info;
	struct btf *btf;
	struct btf_dump *btf_dump; /* text dumps only */
	bool percpu;
	int ncpus;
	size_t stride; /* bytes per CPU in a per-CPU lookup */
	__u8 *key, *next_key, *values;
};

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Refuses, with a sentence that says where to look, maps the kernel cannot list. */
static int check_iterable(const struct map_dump *m, char *err, size_t errlen)
{
	switch (m->info.type) {
	case BPF_MAP_TYPE_SK_STORAGE:
		return fail(err, errlen, -EOPNOTSUPP,
			    "%s is socket-local storage: the kernel cannot list its entries; "
			    "use `sluicectl conn list` for per-connection state",
			    m->name);
	case BPF_MAP_TYPE_INODE_STORAGE:
	case BPF_MAP_TYPE_TASK_STORAGE:
	case MAP_TYPE_CGRP_STORAGE:
		return fail(err, errlen, -EOPNOTSUPP,
			    "%s is object-local storage: the kernel cannot list its entries",
			    m->name);
	case BPF_MAP_TYPE_RINGBUF:
	case MAP_TYPE_USER_RINGBUF:
		return fail(err, errlen, -EOPNOTSUPP,
			    "%s is a ring buffer: its records are consumed as they arrive, "
			    "there are no entries to dump",
			    m->name);
	case BPF_MAP_TYPE_QUEUE:
	case BPF_MAP_TYPE_STACK:
	case BPF_MAP_TYPE_BLOOM_FILTER:
		return fail(err, errlen, -EOPNOTSUPP,
			    "%s is a queue, stack or bloom filter: it has no keys to list",
			    m->name);
	default:
		return 0;
	}
}

static void map_dump_close(struct map_dump *m)
{
	if (m->fd >= 0)
		close(m->fd);
	btf_dump__free(m->btf_dump);
	btf__free(m->btf);
	free(m->key);
	free(m->next_key);
	free(m->values);
}

static int valid_name(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int map_dump_open(struct map_dump *m, const char *root, const char *name, char *err,
			 size_t errlen)
{
	char prefixed[NAME_MAX + 1];
	enum obj_kind kind;
	__u32 len = sizeof(m->info);
	size_t vsize;
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (!valid_name(name) || strlen(name) > NAME_MAX)
		return fail(err, errlen, -EINVAL,
			    "'%s' is not a map name: pass a name from `sluicectl map list`", name);
	ret = root_check(root, err, errlen);
	if (ret)
		return ret;
	snprintf(m->name, sizeof(m->name), "%s", name);
	ret = pin_open(root, name, &m->fd, &kind);
	/* Let operators type `drops` for `sluice_drops`. */
	if (ret == -ENOENT && strncmp(name, PIN_PREFIX, strlen(PIN_PREFIX)) &&
	    strlen(name) + strlen(PIN_PREFIX) <= NAME_MAX) {
		snprintf(prefixed, sizeof(prefixed), PIN_PREFIX "%s", name);
		ret = pin_open(root, prefixed, &m->fd, &kind);
		if (!ret)
			snprintf(m->name, sizeof(m->name), "%s", prefixed);
	}
	if (ret == -ENOENT)
		return fail(err, errlen, ret,
			    "no map '%s' is pinned under %s: see `sluicectl map list`", name, root);
	if (ret)
		return fail(err, errlen, ret, "cannot open pin %s/%s: %s", root, name,
			    strerror(-ret));
	if (kind != OBJ_MAP)
		return fail(err, errlen, -EINVAL,
			    "%s/%s is a %s, not a map: see `sluicectl prog show`", root, m->name,
			    kind == OBJ_LINK   ? "link"
			    : kind == OBJ_PROG ? "program"
					       : "file");
	ret = bpf_obj_get_info_by_fd(m->fd, &m->info, &len);
	if (ret)
		return fail(err, errlen, ret, "cannot read the info of map %s: %s", m->name,
			    strerror(-ret));
	ret = check_iterable(m, err, errlen);
	if (ret)
		return ret;
	if (m->info.btf_id && (m->info.btf_key_type_id || m->info.btf_value_type_id)) {
		m->btf = btf__load_from_kernel_by_id(m->info.btf_id);
		if (!m->btf)
			return fail(err, errlen, -errno, "cannot load BTF %u of map %s: %s",
				    m->info.btf_id, m->name, strerror(errno));
	}
	m->percpu = is_percpu(m->info.type);
	m->ncpus = 1;
	m->stride = m->info.value_size;
	if (m->percpu) {
		m->ncpus = libbpf_num_possible_cpus();
		if (m->ncpus < 0)
			return fail(err, errlen, m->ncpus, "cannot count the possible CPUs: %s",
				    strerror(-m->ncpus));
		/* The kernel copies per-CPU values at 8-byte strides. */
		m->stride = (m->info.value_size + 7) & ~(size_t)7;
	}
	vsize = m->stride * m->ncpus;
	m->key = calloc(1, m->info.key_size ?: 1);
	m->next_key = calloc(1, m->info.key_size ?: 1);
	m->values = calloc(1, vsize ?: 1);
	if (!m->key || !m->next_key || !m->values)
		return fail(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

typedef int (*entry_fn)(struct map_dump *m, const __u8 *key, const __u8 *values, void *ctx);

static int map_walk(struct map_dump *m, entry_fn fn, void *ctx, char *err, size_t errlen)
{
	/*
	 * A hash walk restarts from the first key when the previous one was
	 * deleted under us; bound it so that a busy map cannot loop forever.
	 */
	size_t limit = m->info.max_entries ?: SIZE_MAX, seen = 0;
	__u8 *prev = NULL, *tmp;
	int ret;

	while (seen < limit) {
		ret = bpf_map_get_next_key(m->fd, prev, m->next_key);
		if (ret == -ENOENT)
			break;
		if (ret == -ENOTSUPP || ret == -EOPNOTSUPP)
			return fail(err, errlen, -EOPNOTSUPP,
				    "the kernel cannot list the entries of %s (a %s map)", m->name,
				    libbpf_bpf_map_type_str(m->info.type) ?: "new kind of");
		if (ret)
			return fail(err, errlen, ret, "cannot list %s: %s", m->name,
				    strerror(-ret));
		ret = bpf_map_lookup_elem(m->fd, m->next_key, m->values);
		if (ret && ret != -ENOENT)
			return fail(err, errlen, ret, "cannot read an entry of %s: %s", m->name,
				    strerror(-ret));
		/* -ENOENT: deleted since get_next_key returned it; not an entry any more. */
		if (!ret) {
			ret = fn(m, m->next_key, m->values, ctx);
			if (ret)
				return fail(err, errlen, ret, "cannot print an entry of %s: %s",
					    m->name, strerror(-ret));
		}
		tmp = m->key;
		m->key = m->next_key;
		m->next_key = tmp;
		prev = m->key;
		seen++;
	}
	return 0;
}

/*
 * A sockmap or sockhash has no BTF (the kernel refuses it there) but its
 * value is the kernel's: the socket cookie, when read from userspace.
 */
static bool value_is_cookie(const struct map_dump *m)
{
	return (m->info.type == BPF_MAP_TYPE_SOCKHASH || m->info.type == BPF_MAP_TYPE_SOCKMAP) &&
	       m->info.value_size == sizeof(__u64) && !m->info.btf_value_type_id;
}

static int part_json(const struct map_dump *m, __u32 type_id, const __u8 *data, __u32 size,
		     bool is_value, json_t **out)
{
	__u64 cookie;

	if (m->btf && type_id)
		return sl_pins_btf_json(m->btf, type_id, data, size, out);
	if (is_value && value_is_cookie(m)) {
		memcpy(&cookie, data, sizeof(cookie));
		*out = json_u64(cookie);
	} else {
		*out = json_hex_bytes(data, size);
	}
	return *out ? 0 : -ENOMEM;
}

static int entry_json(struct map_dump *m, const __u8 *key, const __u8 *values, void *ctx)
{
	json_t *arr = ctx, *entry, *k = NULL, *v = NULL, *cpus = NULL, *one;
	int ret, cpu;

	entry = json_object();
	if (!entry)
		return -ENOMEM;
	ret = part_json(m, m->info.btf_key_type_id, key, m->info.key_size, false, &k);
	if (ret)
		goto cleanup;
	ret = -ENOMEM;
	if (json_object_set_new(entry, "key", k))
		goto cleanup;
	if (!m->percpu) {
		ret = part_json(m, m->info.btf_value_type_id, values, m->info.value_size, true, &v);
		if (ret)
			goto cleanup;
		ret = json_object_set_new(entry, "value", v) ? -ENOMEM : 0;
		goto append;
	}
	cpus = json_array();
	if (!cpus || json_object_set_new(entry, "values", cpus))
		goto cleanup;
	for (cpu = 0; cpu < m->ncpus; cpu++) {
		ret = part_json(m, m->info.btf_value_type_id, values + cpu * m->stride,
				m->info.value_size, true, &v);
		if (ret)
			goto cleanup;
		ret = -ENOMEM;
		one = json_pack("{s:i, s:o}", "cpu", cpu, "value", v);
		if (!one || json_array_append_new(cpus, one))
			goto cleanup;
	}
	ret = 0;
append:
	if (!ret && json_array_append(arr, entry))
		ret = -ENOMEM;
cleanup:
	json_decref(entry);
	return ret;
}

int sl_pins_map_dump_json(const char *pin_root, const char *name, json_t **out, char *err,
			  size_t errlen)
{
	struct map_dump m;
	json_t *arr = NULL;
	int ret;

	*out = NULL;
	ret = map_dump_open(&m, pin_root, name, err, errlen);
	if (ret)
		goto cleanup;
	arr = json_array();
	if (!arr) {
		ret = fail(err, errlen, -ENOMEM, "out of memory");
		goto cleanup;
	}
	ret = map_walk(&m, entry_json, arr, err, errlen);
	if (ret)
		goto cleanup;
	*out = arr;
	arr = NULL;
cleanup:
	json_decref(arr);
	map_dump_close(&m);
	return ret;
}

static void btf_dump_printf(void *ctx, const char *fmt, va_list args)
{
	vfprintf(ctx, fmt, args);
}

static int part_text(struct map_dump *m, __u32 type_id, const __u8 *data, __u32 size, bool is_value,
		     FILE *f)
{
	LIBBPF_OPTS(btf_dump_type_data_opts, opts, .emit_zeroes = true);
	__u64 cookie;
	__u32 i;
	int ret;

	if (m->btf_dump && type_id) {
		ret = btf_dump__dump_type_data(m->btf_dump, type_id, data, size, &opts);
		fputc('\n', f);
		return ret < 0 ? ret : 0;
	}
	if (is_value && value_is_cookie(m)) {
		memcpy(&cookie, data, sizeof(cookie));
		fprintf(f, "%" PRIu64 " (socket cookie)\n", (uint64_t)cookie);
		return 0;
	}
	for (i = 0; i < size; i++)
		fprintf(f, "%s%02x", i ? " " : "", data[i]);
	fputc('\n', f);
	return 0;
}

struct text_ctx {
	FILE *f;
	size_t n;
};

static int entry_text(struct map_dump *m, const __u8 *key, const __u8 *values, void *ctx)
{
	struct text_ctx *t = ctx;
	int ret, cpu;

	if (t->n++)
		fputc('\n', t->f);
	fputs("key: ", t->f);
	ret = part_text(m, m->info.btf_key_type_id, key, m->info.key_size, false, t->f);
	if (ret)
		return ret;
	if (!m->percpu) {
		fputs("value: ", t->f);
		return part_text(m, m->info.btf_value_type_id, values, m->info.value_size, true,
				 t->f);
	}
	for (cpu = 0; cpu < m->ncpus; cpu++) {
		fprintf(t->f, "value (cpu %d): ", cpu);
		ret = part_text(m, m->info.btf_value_type_id, values + cpu * m->stride,
				m->info.value_size, true, t->f);
		if (ret)
			return ret;
	}
	return 0;
}

int sl_pins_map_dump_text(const char *pin_root, const char *name, FILE *out, char *err,
			  size_t errlen)
{
	struct text_ctx t = { .f = out };
	struct map_dump m;
	int ret;

	ret = map_dump_open(&m, pin_root, name, err, errlen);
	if (ret)
		goto cleanup;
	if (m.btf) {
		m.btf_dump = btf_dump__new(m.btf, btf_dump_printf, out, NULL);
		if (!m.btf_dump) {
			ret = fail(err, errlen, -errno, "cannot print BTF values: %s",
				   strerror(errno));
			goto cleanup;
		}
	}
	ret = map_walk(&m, entry_text, &t, err, errlen);
	if (ret)
		goto cleanup;
	fprintf(out, "%sFound %zu entr%s\n", t.n ? "\n" : "", t.n, t.n == 1 ? "y" : "ies");
cleanup:
	map_dump_close(&m);
	return ret;
}

/* --- links and programs ------------------------------------------------- */

static void link_type_name(__u32 type, char *buf, size_t len)
{
	const char *s = libbpf_bpf_link_type_str(type);

	if (!s && type == LINK_TYPE_SOCKMAP)
		s = "sockmap";
	if (s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "type %u", type);
}

static void attach_type_name(__u32 type, char *buf, size_t len)
{
	const char *s = libbpf_bpf_attach_type_str(type);

	if (s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "type %u", type);
}

static int prog_fill(int fd, struct sl_pins_prog *p)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	const char *type;
	int ret, i;

	memset(&info, 0, sizeof(info));
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (ret)
		return ret;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", info.name);
	type = libbpf_bpf_prog_type_str(info.type);
	if (type)
		snprintf(p->type_name, sizeof(p->type_name), "%s", type);
	else
		snprintf(p->type_name, sizeof(p->type_name), "type %u", info.type);
	for (i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(p->tag + 2 * i, sizeof(p->tag) - 2 * i, "%02x", info.tag[i]);
	p->id = info.id;
	p->type = info.type;
	p->verified_insns = info.verified_insns;
	p->xlated_len = info.xlated_prog_len;
	p->jited_len = info.jited_prog_len;
	p->run_time_ns = info.run_time_ns;
	p->run_cnt = info.run_cnt;
	return 0;
}

static int link_fill(int fd, struct sl_pins_link *l)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char target[SL_PINS_TYPE_NAME_LEN] = "";
	struct {
		__u32 map_id;
		__u32 attach_type;
	} sockmap;
	int ret, prog_fd;

	memset(&info, 0, sizeof(info));
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (ret)
		return ret;
	/*
	 * Ask for the iterator's target name only from an iterator link: other
	 * link types read the same union bytes as their own buffer pointers.
	 */
	if (info.type == BPF_LINK_TYPE_ITER) {
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		info.iter.target_name = (__u64)(uintptr_t)target;
		info.iter.target_name_len = sizeof(target);
		ret = bpf_obj_get_info_by_fd(fd, &info, &len);
		if (ret)
			return ret;
	}
	l->is_link = true;
	l->id = info.id;
	l->type = info.type;
	l->prog_id = info.prog_id;
	link_type_name(info.type, l->type_name, sizeof(l->type_name));
	switch (info.type) {
	case BPF_LINK_TYPE_CGROUP:
		l->cgroup_id = info.cgroup.cgroup_id;
		l->attach_type = info.cgroup.attach_type;
		attach_type_name(l->attach_type, l->attach_type_name, sizeof(l->attach_type_name));
		break;
	case BPF_LINK_TYPE_ITER:
		snprintf(l->iter_target, sizeof(l->iter_target), "%s", target);
		break;
	case BPF_LINK_TYPE_NETNS:
		l->attach_type = info.netns.attach_type;
		attach_type_name(l->attach_type, l->attach_type_name, sizeof(l->attach_type_name));
		break;
	case LINK_TYPE_SOCKMAP:
		/* uapi 6.10: {map_id, attach_type} at the start of the union. */
		memcpy(&sockmap, &info.raw_tracepoint, sizeof(sockmap));
		l->map_id = sockmap.map_id;
		l->attach_type = sockmap.attach_type;
		attach_type_name(l->attach_type, l->attach_type_name, sizeof(l->attach_type_name));
		break;
	default:
		break;
	}
	if (!l->prog_id)
		return 0;
	prog_fd = bpf_prog_get_fd_by_id(l->prog_id);
	/* The link is worth showing even when its program cannot be opened. */
	if (prog_fd < 0)
		return 0;
	l->has_prog = !prog_fill(prog_fd, &l->prog);
	close(prog_fd);
	return 0;
}

static bool link_entry(void *entry, const char *pin, int fd, enum obj_kind kind)
{
	struct sl_pins_link *l = entry;

	memset(l, 0, sizeof(*l));
	snprintf(l->pin, sizeof(l->pin), "%s", pin);
	if (kind == OBJ_LINK)
		return !link_fill(fd, l);
	if (kind == OBJ_PROG && !prog_fill(fd, &l->prog)) {
		l->has_prog = true;
		l->prog_id = l->prog.id;
		return true;
	}
	return false;
}

int sl_pins_prog_list(const char *pin_root, struct sl_pins_link **links, size_t *count, char *err,
		      size_t errlen)
{
	void *list;
	int ret = pins_collect(pin_root, sizeof(**links), link_entry, &list, count, err, errlen);

	*links = list;
	return ret;
}

int sl_pins_stats_enabled(bool *on)
{
	char c = '0';
	int fd, ret = 0;

	fd = open("/proc/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (read(fd, &c, 1) != 1)
		ret = -EIO;
	close(fd);
	*on = c == '1';
	return ret;
}

/* --- the conns iterator ------------------------------------------------- */

static int parse_u64(const char *s, __u64 *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*out = v;
	return 0;
}

static int parse_bounded(const char *s, __u64 max, __u64 *out)
{
	int ret = parse_u64(s, out);

	return ret ? ret : *out > max ? -EBADMSG : 0;
}

static int conn_field(struct sl_pins_conn *c, const char *key, const char *val, bool *has_cookie)
{
	static const struct {
		const char *key;
		size_t off;
	} u64s[] = {
		{ "events", offsetof(struct sl_pins_conn, events) },
		{ "replies", offsetof(struct sl_pins_conn, replies) },
		{ "bytes", offsetof(struct sl_pins_conn, bytes) },
		{ "drops", offsetof(struct sl_pins_conn, drops) },
		{ "drop_bytes", offsetof(struct sl_pins_conn, drop_bytes) },
		{ "cap", offsetof(struct sl_pins_conn, event_cap) },
		{ "unacked", offsetof(struct sl_pins_conn, unacked) },
		{ "notsent", offsetof(struct sl_pins_conn, notsent) },
		{ "age_ms", offsetof(struct sl_pins_conn, age_ms) },
	};
	__u64 v;
	size_t i;
	int ret;

	if (!strcmp(key, "cookie")) {
		*has_cookie = true;
		return parse_u64(val, &c->cookie);
	}
	if (!strncmp(key, "drops_", 6))
		for (i = 1; i < SL_DROP__MAX; i++)
			if (!strcmp(key + 6, sl_drop_reason_name((enum sl_drop_reason)i)))
				return parse_u64(val, &c->drops_by_reason[i]);
	if (!strcmp(key, "framing")) {
		if (!val[0] || strlen(val) >= sizeof(c->framing))
			return -EBADMSG;
		memcpy(c->framing, val, strlen(val) + 1);
		return 0;
	}
	if (!strcmp(key, "lport") || !strcmp(key, "rport")) {
		ret = parse_bounded(val, UINT16_MAX, &v);
		if (!ret)
			*(key[0] == 'l' ? &c->local_port : &c->remote_port) = (__u16)v;
		return ret;
	}
	if (!strcmp(key, "app") || !strcmp(key, "flags")) {
		ret = parse_bounded(val, UINT32_MAX, &v);
		if (!ret)
			*(key[0] == 'a' ? &c->app_slot : &c->flags) = (__u32)v;
		return ret;
	}
	for (i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
		if (!strcmp(key, u64s[i].key))
			return parse_u64(val, (__u64 *)((char *)c + u64s[i].off));
	return 0;
}

int sl_pins_conn_parse(const char *line, struct sl_pins_conn *out)
{
	char key[32], val[64];
	const char *p = line, *tok, *eq;
	bool has_cookie = false;
	size_t klen, vlen;
	int ret;

	memset(out, 0, sizeof(*out));
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		eq = memchr(tok, '=', p - tok);
		if (!eq || eq == tok)
			return -EBADMSG;
		klen = eq - tok;
		vlen = p - eq - 1;
		/* Longer keys or values are not ours: skip, as unknown keys are. */
		if (klen >= sizeof(key) || vlen >= sizeof(val))
			continue;
		memcpy(key, tok, klen);
		key[klen] = '\0';
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		ret = conn_field(out, key, val, &has_cookie);
		if (ret)
			return ret;
	}
	return has_cookie ? 0 : -EBADMSG;
}

int sl_pins_conn_list(const char *pin_root, struct sl_pins_conn **conns, size_t *count, char *err,
		      size_t errlen)
{
	struct sl_pins_conn *out = NULL, *grown;
	size_t n = 0, cap = 0, linecap = 0, lineno = 0;
	char path[PATH_MAX], *line = NULL;
	FILE *f = NULL;
	ssize_t len;
	int ret;

	*conns = NULL;
	*count = 0;
	ret = root_check(pin_root, err, errlen);
	if (ret)
		return ret;
	ret = snprintf(path, sizeof(path), "%s/%s", pin_root, SL_KERN_PIN_CONNS);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return fail(err, errlen, -ENAMETOOLONG, "pin root %s is too long", pin_root);
	/* Each open of a pinned iterator runs it afresh: one consistent walk. */
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return fail(err, errlen, -ENOENT,
				    "no connection iterator pinned at %s: the meter is not loaded "
				    "(is sluiced running?)",
				    path);
		return fail(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
	}
	errno = 0;
	while ((len = getline(&line, &linecap, f)) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[strspn(line, " \t")])
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(out, cap * sizeof(*out));
			if (!grown) {
				ret = fail(err, errlen, -ENOMEM, "out of memory");
				goto cleanup;
			}
			out = grown;
		}
		ret = sl_pins_conn_parse(line, &out[n]);
		if (ret) {
			fail(err, errlen, ret, "%s:%zu: not a connection record: %.80s", path,
			     lineno, line);
			goto cleanup;
		}
		n++;
	}
	if (ferror(f)) {
		ret = fail(err, errlen, -EIO, "cannot read %s: %s", path, strerror(errno ?: EIO));
		goto cleanup;
	}
	if (n) {
		*conns = out;
		*count = n;
		out = NULL;
	}
	ret = 0;
cleanup:
	free(line);
	free(out);
	fclose(f);
	return ret;
}
