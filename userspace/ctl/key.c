// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "ctl/key.h"
#include "ctl/out.h"

/* 32 random bytes: 256 bits, beyond guessing; hex keeps it copy-paste safe. */
#define KEY_BYTES 32

static void hex(char *out, const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int do_gen(const struct sl_ctl *ctl, int argc, char **argv)
{
	unsigned char raw[KEY_BYTES], digest[WC_SHA256_DIGEST_SIZE];
	char key[4 + 2 * KEY_BYTES + 1], sha[2 * WC_SHA256_DIGEST_SIZE + 1];
	json_t *doc;
	int ret;

	ret = sl_cmd_no_args(ctl, "key", argc, argv);
	if (ret)
		return ret;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return sl_out_error(ctl, "cannot read random bytes: %s", strerror(errno));
	/* A prefix makes leaked keys easy to spot in logs and secret scanners. */
	memcpy(key, "slk_", 4);
	hex(key + 4, raw, sizeof(raw));
	if (wc_Sha256Hash((const unsigned char *)key, (unsigned int)strlen(key), digest))
		return sl_out_error(ctl, "cannot hash the key");
	hex(sha, digest, sizeof(digest));
	if (!ctl->json) {
		printf("key:    %s\nsha256: %s\n\npolicy:  api_keys: [{sha256: %s}]\n", key, sha,
		       sha);
		return SL_EXIT_OK;
	}
	doc = json_pack("{s:s, s:s}", "key", key, "sha256", sha);
	return doc ? sl_out_json(ctl, doc) : sl_out_error(ctl, "out of memory");
}

static int do_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl,
			   "Usage: sluicectl " SL_KEY_GRAMMAR "\n"
			   "  gen   print a new random API key and its SHA-256; only the hash\n"
			   "        goes into the policy (applications[].api_keys)\n");
}

int sl_key_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "gen", do_gen },
		{ "help", do_help },
		{ NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "key", argc, argv);
}
