// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Text and JSON output for sluicectl (see out.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/out.h"

/* Printed when not even the error document can be built: stdout stays valid JSON. */
static const char oom_json[] = "{\"error\": \"out of memory\"}";

static size_t json_flags(const struct sl_ctl *ctl)
{
	return JSON_ENCODE_ANY | (ctl->pretty ? JSON_INDENT(2) : JSON_COMPACT);
}

int sl_out_json(const struct sl_ctl *ctl, json_t *doc)
{
	int ret = SL_EXIT_OK;

	if (!doc) {
		puts(oom_json);
		return SL_EXIT_ERROR;
	}
	if (json_dumpf(doc, stdout, json_flags(ctl)) || fputc('\n', stdout) == EOF)
		ret = SL_EXIT_ERROR;
	json_decref(doc);
	if (fflush(stdout))
		ret = SL_EXIT_ERROR;
	return ret;
}

json_t *sl_out_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;
	size_t i;

	if (j || !s)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *sl_out_u64(unsigned long long v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%llu", v);
	return json_string(buf);
}

static int report(const struct sl_ctl *ctl, int status, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* SPEC: the message on stderr; with -j the error is also stdout's one document. */
	fprintf(stderr, "sluicectl: %s\n", msg);
	if (!ctl->json)
		return status;
	if (sl_out_json(ctl, json_pack("{s:o}", "error", sl_out_string(msg))) != SL_EXIT_OK)
		return SL_EXIT_ERROR;
	return status;
}

int sl_out_error(const struct sl_ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = report(ctl, SL_EXIT_ERROR, fmt, ap);
	va_end(ap);
	return ret;
}

int sl_out_usage(const struct sl_ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = report(ctl, SL_EXIT_USAGE, fmt, ap);
	va_end(ap);
	return ret;
}

int sl_out_help(const struct sl_ctl *ctl, const char *text)
{
	if (ctl->json)
		return sl_out_json(ctl, json_pack("{s:s}", "help", text));
	fputs(text, stdout);
	return fflush(stdout) ? SL_EXIT_ERROR : SL_EXIT_OK;
}
