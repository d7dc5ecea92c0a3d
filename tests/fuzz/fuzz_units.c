// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The config's scalar parsers (config/units.c, sl_config_parse_addr):
 * durations, sizes, counts and listener addresses. Whatever parses formats
 * back to text that parses to the same value.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/units.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size), buf[SL_UNITS_BUF_SIZE], addr_buf[128],
	     addr_buf2[128];
	struct sl_config_addr addr, addr2;
	const char *why = NULL;
	uint64_t v, v2;
	int ret;

	if (!s)
		abort();
	ret = sl_parse_duration(s, &v);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	if (ret == 0) {
		sl_format_duration(v, buf, sizeof(buf));
		FUZZ_CHECK(sl_parse_duration(buf, &v2) == 0 && v2 == v);
	}
	ret = sl_parse_size(s, &v);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	if (ret == 0) {
		sl_format_size(v, buf, sizeof(buf));
		FUZZ_CHECK(sl_parse_size(buf, &v2) == 0 && v2 == v);
	}
	ret = sl_parse_count(s, &v);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	if (ret == 0) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
		FUZZ_CHECK(sl_parse_count(buf, &v2) == 0 && v2 == v);
		/* A count is a size without a unit. */
		FUZZ_CHECK(sl_parse_size(s, &v2) == 0 && v2 == v);
	}
	ret = sl_config_parse_addr(s, &addr, &why);
	FUZZ_CHECK(ret == 0 || (ret == -EINVAL && why));
	if (ret == 0) {
		sl_config_addr_format(&addr, addr_buf, sizeof(addr_buf));
		FUZZ_CHECK(sl_config_parse_addr(addr_buf, &addr2, NULL) == 0);
		sl_config_addr_format(&addr2, addr_buf2, sizeof(addr_buf2));
		FUZZ_CHECK(!strcmp(addr_buf, addr_buf2));
	}
	free(s);
	return 0;
}
