/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `sluicectl key gen`: a new random API key and the SHA-256 a policy stores. */
#ifndef SLUICE_CTL_KEY_H
#define SLUICE_CTL_KEY_H

#include "ctl/cmd.h"

#define SL_KEY_GRAMMAR "key { gen }"

int sl_key_run(const struct sl_ctl *ctl, int argc, char **argv);

#endif
