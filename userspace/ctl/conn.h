/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `sluicectl conn`: the metered connections, as the kernel meter sees them. */
#ifndef SLUICE_CTL_CONN_H
#define SLUICE_CTL_CONN_H

#include "ctl/cmd.h"

#define SL_CONN_GRAMMAR                                                                            \
	"conn { list [app ID] [topic PATTERN] | show ID | series ID [SECS] | kick ID [REASON] }"

int sl_conn_run(const struct sl_ctl *ctl, int argc, char **argv);

#endif
