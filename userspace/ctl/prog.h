/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `sluicectl prog`: the meter's pinned links and the programs behind them. */
#ifndef SLUICE_CTL_PROG_H
#define SLUICE_CTL_PROG_H

#include "ctl/cmd.h"

#define SL_PROG_GRAMMAR "prog { show | list }"

int sl_prog_run(const struct sl_ctl *ctl, int argc, char **argv);

#endif
