// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "net/log.h"

enum sl_config_log_level sl_log_level = SL_CONFIG_LOG_INFO;

void sl_log_emit(enum sl_config_log_level level, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* One write per line keeps lines whole when stderr is shared (journald, a pipe). */
	flockfile(stderr);
	fprintf(stderr, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, sl_config_log_level_name(level));
	va_start(ap, fmt);
	vfprintf(stderr, fmt[0] == '{' ? fmt + 1 : fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
