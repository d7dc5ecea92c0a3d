// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `sluicectl prog`: what is attached, through which pinned link, and what
 * it costs (run time and count while kernel.bpf_stats_enabled is on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/kern.h"
#include "kern/pins.h"
#include "ctl/daemon.h"
#include "ctl/out.h"
#include "ctl/prog.h"
#include "ctl/table.h"

static const char prog_help[] =
    "Usage: sluicectl prog { show | list }\n"
    "       sluicectl prog help\n"
    "\n"
    "Shows each link pinned under the pin root (" SL_KERN_PIN_LINK_SOCKOPS
    ", " SL_KERN_PIN_LINK_SK_MSG ", " SL_KERN_PIN_CONNS ")\n"
    "with the program attached through it. Run time and run count are counted\n"
    "only while `sysctl kernel.bpf_stats_enabled` is 1.\n"
    "Reads the pins under --pin-root (default " SL_KERN_DEFAULT_PIN_ROOT "); needs no daemon.\n";

static int do_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, prog_help);
}

static json_t *prog_json(const struct sl_pins_prog *p, bool stats)
{
	json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:I, s:I, s:I}", "id", (json_int_t)p->id,
			      "type", p->type_name, "name", sl_out_string(p->name), "tag", p->tag,
			      "verified_insns", (json_int_t)p->verified_insns, "xlated_len",
			      (json_int_t)p->xlated_len, "jited_len", (json_int_t)p->jited_len);

	/* Zeros while stats are off would read as "never ran": leave them out. */
	if (o && (stats || p->run_cnt) &&
	    (json_object_set_new(o, "run_time_ns", sl_out_u64(p->run_time_ns)) ||
	     json_object_set_new(o, "run_cnt", sl_out_u64(p->run_cnt)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *link_json(const struct sl_pins_link *l)
{
	json_t *o;
	int err = 0;

	if (!l->is_link)
		return json_null();
	o = json_pack("{s:I, s:s, s:I}", "id", (json_int_t)l->id, "type", l->type_name, "prog_id",
		      (json_int_t)l->prog_id);
	if (!o)
		return NULL;
	if (l->attach_type_name[0])
		err |= json_object_set_new(o, "attach_type", json_string(l->attach_type_name));
	if (l->cgroup_id)
		err |= json_object_set_new(o, "cgroup_id", sl_out_u64(l->cgroup_id));
	if (l->map_id)
		err |= json_object_set_new(o, "map_id", json_integer(l->map_id));
	if (l->iter_target[0])
		err |= json_object_set_new(o, "target", json_string(l->iter_target));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int show_json(const struct sl_ctl *ctl, const struct sl_pins_link *links, size_t n,
		     bool stats)
{
	json_t *arr = json_array(), *one;
	size_t i;

	for (i = 0; arr && i < n; i++) {
		one = json_pack("{s:o, s:o, s:o}", "pin", sl_out_string(links[i].pin), "link",
				link_json(&links[i]), "prog",
				links[i].has_prog ? prog_json(&links[i].prog, stats) : json_null());
		if (json_array_append_new(arr, one)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return sl_out_json(ctl, arr);
}

static void add_target(struct sl_table *t, const struct sl_pins_link *l)
{
	if (l->cgroup_id)
		sl_table_add(t, "cgroup %llu", (unsigned long long)l->cgroup_id);
	else if (l->map_id)
		sl_table_add(t, "map %u", l->map_id);
	else if (l->iter_target[0])
		sl_table_add(t, "iter %s", l->iter_target);
	else
		sl_table_add(t, "-");
}

static int show_text(const struct sl_ctl *ctl, const struct sl_pins_link *links, size_t n,
		     bool stats)
{
	static const char *const headers[] = {
		"PIN",	">LINK", "TYPE",      "ATTACH", "TARGET", ">PROG",   "PROG_TYPE",
		"NAME", "TAG",	 ">VERIFIED", ">JITED", ">RUNS",  ">RUN_NS",
	};
	struct sl_table *t = sl_table_new(sizeof(headers) / sizeof(headers[0]), headers);
	const struct sl_pins_link *l;
	const struct sl_pins_prog *p;
	size_t i;
	int ret;

	for (i = 0; t && i < n; i++) {
		l = &links[i];
		p = &l->prog;
		sl_table_add(t, "%s", l->pin);
		if (l->is_link) {
			sl_table_add(t, "%u", l->id);
			sl_table_add(t, "%s", l->type_name);
			sl_table_add(t, "%s", l->attach_type_name[0] ? l->attach_type_name : "-");
			add_target(t, l);
		} else {
			sl_table_add(t, "-");
			sl_table_add(t, "(program)");
			sl_table_add(t, "-");
			sl_table_add(t, "-");
		}
		if (l->has_prog) {
			sl_table_add(t, "%u", p->id);
			sl_table_add(t, "%s", p->type_name);
			sl_table_add(t, "%s", p->name[0] ? p->name : "-");
			sl_table_add(t, "%s", p->tag);
			sl_table_add(t, "%u", p->verified_insns);
			sl_table_add(t, "%u", p->jited_len);
		} else {
			sl_table_add(t, "%u", l->prog_id);
			sl_table_add(t, "-");
			sl_table_add(t, "-");
			sl_table_add(t, "-");
			sl_table_add(t, "-");
			sl_table_add(t, "-");
		}
		if (l->has_prog && (stats || p->run_cnt)) {
			sl_table_add(t, "%llu", (unsigned long long)p->run_cnt);
			sl_table_add(t, "%llu", (unsigned long long)p->run_time_ns);
		} else {
			sl_table_add(t, "-");
			sl_table_add(t, "-");
		}
	}
	ret = sl_table_print(t, stdout);
	sl_table_free(t);
	if (ret)
		return sl_out_error(ctl, "cannot print the program list: %s", strerror(-ret));
	if (!stats && n)
		fprintf(stderr, "sluicectl: RUNS and RUN_NS are counted only while "
				"`sysctl kernel.bpf_stats_enabled` is 1\n");
	return SL_EXIT_OK;
}

static int do_show(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_pins_link *links = NULL;
	bool stats = false;
	char err[512];
	size_t n;
	int ret;

	ret = sl_cmd_no_args(ctl, "prog", argc, argv);
	if (ret)
		return ret;
	ret = sl_pins_prog_list(ctl->pin_root, &links, &n, err, sizeof(err));
	if (ret)
		return sl_daemon_pins_error(ctl, ret, err);
	/* Unreadable sysctl: show no run stats rather than fail the listing. */
	sl_pins_stats_enabled(&stats);
	ret = ctl->json ? show_json(ctl, links, n, stats) : show_text(ctl, links, n, stats);
	free(links);
	return ret;
}

int sl_prog_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "show", do_show },
		{ "list", do_show },
		{ "help", do_help },
		{ NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "prog", argc, argv);
}
