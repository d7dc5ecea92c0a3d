// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command dispatch for sluicectl (see cmd.h). */
#include <string.h>

#include "ctl/cmd.h"
#include "ctl/out.h"

static bool is_prefix(const char *arg, const char *name)
{
	return !strncmp(arg, name, strlen(arg));
}

int sl_cmd_select(const struct sl_ctl *ctl, const struct sl_cmd *cmds, const char *object, int argc,
		  char **argv)
{
	const struct sl_cmd *c, *found = NULL, *other = NULL;
	const char *arg;

	if (argc < 1)
		return cmds[0].fn(ctl, 0, argv);
	arg = argv[0];
	for (c = cmds; c->name; c++)
		if (!strcmp(arg, c->name))
			return c->fn(ctl, argc - 1, argv + 1);
	/* An exact name always wins above: `top` is not ambiguous with `topic`. */
	for (c = cmds; c->name && arg[0]; c++) {
		if (!is_prefix(arg, c->name))
			continue;
		if (!found)
			found = c;
		else if (c->fn != found->fn && !other)
			other = c;
	}
	if (found && !other)
		return found->fn(ctl, argc - 1, argv + 1);
	if (found)
		return sl_out_usage(ctl, "'%s' is ambiguous: %s or %s? see `sluicectl %s%shelp`",
				    arg, found->name, other->name, object ?: "", object ? " " : "");
	if (object)
		return sl_out_usage(ctl, "'%s' is not a %s command: see `sluicectl %s help`", arg,
				    object, object);
	return sl_out_usage(ctl, "'%s' is not an object: see `sluicectl help`", arg);
}

int sl_cmd_no_args(const struct sl_ctl *ctl, const char *object, int argc, char **argv)
{
	if (argc == 0)
		return SL_EXIT_OK;
	return sl_out_usage(ctl, "unexpected argument '%s': see `sluicectl %s help`", argv[0],
			    object);
}
