/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `sluicectl map`: the meter's pinned maps, read straight from bpffs. */
#ifndef SLUICE_CTL_MAP_H
#define SLUICE_CTL_MAP_H

#include "ctl/cmd.h"

#define SL_MAP_GRAMMAR "map { list | dump NAME | watch NAME [interval SECS] [count N] }"

int sl_map_run(const struct sl_ctl *ctl, int argc, char **argv);

#endif
