// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `sluicectl map`: works on the pins alone, so that an operator can read the
 * meter's counters while the daemon is down or wedged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kern/kern.h"
#include "kern/pins.h"
#include "ctl/daemon.h"
#include "ctl/map.h"
#include "ctl/out.h"
#include "ctl/table.h"

/* A watch polls; below this it would mostly measure its own syscalls. */
#define WATCH_MIN_INTERVAL 0.1
#define WATCH_MAX_INTERVAL 3600.0
#define WATCH_MAX_COUNT 1000000

static const char map_help[] =
    "Usage: sluicectl map { list | show }\n"
    "       sluicectl map dump NAME\n"
    "       sluicectl map watch NAME [interval SECS] [count N]\n"
    "       sluicectl map help\n"
    "\n"
    "NAME  a map pinned under the pin root, as `map list` shows it; the\n"
    "      \"sluice_\" prefix may be left out (`map dump drops`).\n"
    "\n"
    "`dump` decodes keys and values with the map's BTF. Per-connection state\n"
    "(sluice_socks) cannot be dumped: use `sluicectl conn list`. `watch` polls\n"
    "every SECS seconds (default 1) and prints the entries that changed; with\n"
    "-j it needs `count N` and prints one document after N polls.\n"
    "Reads the pins under --pin-root (default " SL_KERN_DEFAULT_PIN_ROOT "); needs no daemon.\n";

static int do_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, map_help);
}

static json_t *map_json(const struct sl_pins_map *m)
{
	return json_pack(
	    "{s:o, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "name", sl_out_string(m->name), "id",
	    (json_int_t)m->id, "type", m->type_name, "key_size", (json_int_t)m->key_size,
	    "value_size", (json_int_t)m->value_size, "max_entries", (json_int_t)m->max_entries,
	    "flags", (json_int_t)m->flags, "btf_id", (json_int_t)m->btf_id, "btf", m->has_btf);
}

static int list_json(const struct sl_ctl *ctl, const struct sl_pins_map *maps, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, map_json(&maps[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return sl_out_json(ctl, arr);
}

static int list_text(const struct sl_ctl *ctl, const struct sl_pins_map *maps, size_t n)
{
	static const char *const headers[] = { "NAME",	 "TYPE",     ">ID",    ">KEY",
					       ">VALUE", ">ENTRIES", ">FLAGS", "BTF" };
	struct sl_table *t = sl_table_new(sizeof(headers) / sizeof(headers[0]), headers);
	size_t i;
	int ret;

	for (i = 0; t && i < n; i++) {
		sl_table_add(t, "%s", maps[i].name);
		sl_table_add(t, "%s", maps[i].type_name);
		sl_table_add(t, "%u", maps[i].id);
		sl_table_add(t, "%u", maps[i].key_size);
		sl_table_add(t, "%u", maps[i].value_size);
		sl_table_add(t, "%u", maps[i].max_entries);
		sl_table_add(t, "0x%x", maps[i].flags);
		sl_table_add(t, "%s", maps[i].has_btf ? "yes" : "no");
	}
	ret = sl_table_print(t, stdout);
	sl_table_free(t);
	if (ret)
		return sl_out_error(ctl, "cannot print the map list: %s", strerror(-ret));
	return SL_EXIT_OK;
}

static int do_list(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_pins_map *maps = NULL;
	char err[512];
	size_t n;
	int ret;

	ret = sl_cmd_no_args(ctl, "map", argc, argv);
	if (ret)
		return ret;
	ret = sl_pins_map_list(ctl->pin_root, &maps, &n, err, sizeof(err));
	if (ret)
		return sl_daemon_pins_error(ctl, ret, err);
	ret = ctl->json ? list_json(ctl, maps, n) : list_text(ctl, maps, n);
	free(maps);
	return ret;
}

static int do_dump(const struct sl_ctl *ctl, int argc, char **argv)
{
	json_t *doc;
	char err[512];
	int ret;

	if (argc < 1)
		return sl_out_usage(ctl, "map dump needs a map NAME: see `sluicectl map list`");
	if (argc > 1)
		return sl_out_usage(ctl, "unexpected argument '%s': see `sluicectl map help`",
				    argv[1]);
	if (ctl->json) {
		ret = sl_pins_map_dump_json(ctl->pin_root, argv[0], &doc, err, sizeof(err));
		if (ret)
			return sl_daemon_pins_error(ctl, ret, err);
		return sl_out_json(ctl, doc);
	}
	ret = sl_pins_map_dump_text(ctl->pin_root, argv[0], stdout, err, sizeof(err));
	fflush(stdout);
	if (ret)
		return sl_daemon_pins_error(ctl, ret, err);
	return SL_EXIT_OK;
}

struct watch_opts {
	const char *name;
	double interval;
	long count; /* 0: until interrupted */
};

static int watch_args(const struct sl_ctl *ctl, int argc, char **argv, struct watch_opts *w)
{
	char *end;
	int i;

	if (argc < 1)
		return sl_out_usage(ctl, "map watch needs a map NAME: see `sluicectl map list`");
	w->name = argv[0];
	w->interval = 1.0;
	w->count = 0;
	for (i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return sl_out_usage(ctl, "'%s' needs a value: see `sluicectl map help`",
					    argv[i]);
		errno = 0;
		if (!strcmp(argv[i], "interval")) {
			w->interval = strtod(argv[i + 1], &end);
			if (errno || *end || end == argv[i + 1] ||
			    !(w->interval >= WATCH_MIN_INTERVAL &&
			      w->interval <= WATCH_MAX_INTERVAL))
				return sl_out_usage(
				    ctl, "interval must be %g to %g seconds, not '%s'",
				    WATCH_MIN_INTERVAL, WATCH_MAX_INTERVAL, argv[i + 1]);
		} else if (!strcmp(argv[i], "count")) {
			w->count = strtol(argv[i + 1], &end, 10);
			if (errno || *end || end == argv[i + 1] || w->count < 1 ||
			    w->count > WATCH_MAX_COUNT)
				return sl_out_usage(ctl, "count must be 1 to %d, not '%s'",
						    WATCH_MAX_COUNT, argv[i + 1]);
		} else {
			return sl_out_usage(
			    ctl, "unexpected argument '%s': see `sluicectl map help`", argv[i]);
		}
	}
	/* -j promises one document: an endless stream cannot be one. */
	if (ctl->json && !w->count)
		return sl_out_usage(ctl, "map watch with -j needs `count N`");
	return SL_EXIT_OK;
}

/* Entries by their key's canonical JSON, to compare one poll with the next. */
static json_t *index_entries(json_t *entries)
{
	json_t *idx = json_object(), *entry;
	size_t i;
	char *key;

	for (i = 0; idx && i < json_array_size(entries); i++) {
		entry = json_array_get(entries, i);
		key = json_dumps(json_object_get(entry, "key"),
				 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (!key || json_object_set(idx, key, entry)) {
			free(key);
			json_decref(idx);
			return NULL;
		}
		free(key);
	}
	return idx;
}

/* Entries new or changed since prev, and removed ones as {"key": K, "removed": true}. */
static json_t *changes(json_t *prev, json_t *cur)
{
	json_t *out = json_array(), *entry, *old;
	const char *key;

	if (!out)
		return NULL;
	json_object_foreach(cur, key, entry)
	{
		old = prev ? json_object_get(prev, key) : NULL;
		if ((!old || !json_equal(old, entry)) && json_array_append(out, entry))
			goto fail;
	}
	json_object_foreach(prev, key, old)
	{
		if (!json_object_get(cur, key) &&
		    json_array_append_new(
			out,
			json_pack("{s:O, s:b}", "key", json_object_get(old, "key"), "removed", 1)))
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static void print_change(json_t *entry, const struct timespec *now)
{
	char stamp[16], *key, *val;
	json_t *v = json_object_get(entry, "value");
	struct tm tm;

	if (!v)
		v = json_object_get(entry, "values");
	localtime_r(&now->tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	key = json_dumps(json_object_get(entry, "key"), JSON_COMPACT | JSON_ENCODE_ANY);
	val = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	printf("%s.%03ld key=%s %s%s\n", stamp, now->tv_nsec / 1000000, key ?: "?",
	       v ? "value=" : "removed", v ? (val ?: "?") : "");
	free(key);
	free(val);
}

static int do_watch(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct timespec start, now, pause;
	json_t *prev = NULL, *cur = NULL, *dump, *diff, *ticks = NULL;
	struct watch_opts w = { 0 };
	char err[512];
	size_t i;
	long tick;
	int ret;

	ret = watch_args(ctl, argc, argv, &w);
	if (ret)
		return ret;
	pause.tv_sec = (time_t)w.interval;
	pause.tv_nsec = (long)((w.interval - (double)pause.tv_sec) * 1e9);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ctl->json && !(ticks = json_array()))
		return sl_out_error(ctl, "out of memory");
	for (tick = 0; !w.count || tick < w.count; tick++) {
		if (tick)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, NULL);
		ret = sl_pins_map_dump_json(ctl->pin_root, w.name, &dump, err, sizeof(err));
		if (ret) {
			ret = sl_out_error(ctl, "%s", err);
			goto cleanup;
		}
		cur = index_entries(dump);
		json_decref(dump);
		diff = cur ? changes(prev, cur) : NULL;
		if (!diff) {
			ret = sl_out_error(ctl, "out of memory");
			goto cleanup;
		}
		if (ctl->json) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (json_array_append_new(
				ticks,
				json_pack("{s:I, s:o}", "elapsed_ms",
					  (json_int_t)((now.tv_sec - start.tv_sec) * 1000 +
						       (now.tv_nsec - start.tv_nsec) / 1000000),
					  "changes", diff))) {
				ret = sl_out_error(ctl, "out of memory");
				goto cleanup;
			}
		} else {
			clock_gettime(CLOCK_REALTIME, &now);
			for (i = 0; i < json_array_size(diff); i++)
				print_change(json_array_get(diff, i), &now);
			json_decref(diff);
			fflush(stdout);
		}
		json_decref(prev);
		prev = cur;
		cur = NULL;
	}
	ret = ctl->json ? sl_out_json(ctl, ticks) : SL_EXIT_OK;
	ticks = NULL;
cleanup:
	json_decref(ticks);
	json_decref(prev);
	json_decref(cur);
	return ret;
}

int sl_map_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", do_list },   { "show", do_list }, { "dump", do_dump },
		{ "watch", do_watch }, { "help", do_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "map", argc, argv);
}
