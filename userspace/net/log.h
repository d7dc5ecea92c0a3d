/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's log: one JSON object per line on stderr, each with its time
 * and level. Lines below the configured level are not even formatted, so
 * debug lines cost a compare when the level is info.
 */
#ifndef SLUICE_NET_LOG_H
#define SLUICE_NET_LOG_H

#include "config/config.h"

/* The level in force; lines below it are skipped. Set from `log.level`. */
extern enum sl_config_log_level sl_log_level;

/*
 * fmt is a complete JSON object, `{"msg":"…",…}`: the time and level are
 * spliced in after its opening brace. Use through SL_LOG.
 */
void sl_log_emit(enum sl_config_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SL_LOG(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) >= sl_log_level)                                                       \
			sl_log_emit((level), __VA_ARGS__);                                         \
	} while (0)

#define SL_DEBUG(...) SL_LOG(SL_CONFIG_LOG_DEBUG, __VA_ARGS__)
#define SL_INFO(...) SL_LOG(SL_CONFIG_LOG_INFO, __VA_ARGS__)
#define SL_WARN(...) SL_LOG(SL_CONFIG_LOG_WARN, __VA_ARGS__)
#define SL_ERROR(...) SL_LOG(SL_CONFIG_LOG_ERROR, __VA_ARGS__)
/* Lifecycle lines (ready, reload, shutdown) that supervisors wait for: written at every level. */
#define SL_LIFECYCLE(...) sl_log_emit(SL_CONFIG_LOG_INFO, __VA_ARGS__)

#endif
