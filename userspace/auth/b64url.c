// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Table-free on purpose: the decoder runs on what an unauthenticated client
 * sends, and arithmetic per character keeps it obviously in bounds.
 */
#include <errno.h>

#include "auth/b64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character (RFC 4648 Table 2), or -1. */
static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int sl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t rest = len % 4, need = len / 4 * 3 + (rest ? rest - 1 : 0), i, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	/* One character carries 6 bits, less than a byte: no encoder emits it. */
	if (rest == 1)
		return -EINVAL;
	if (need > cap)
		return -ENOBUFS;
	for (i = 0; i < len; i++) {
		int v = value_of((unsigned char)in[i]);

		if (v < 0)
			return -EINVAL;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* RFC 4648 §3.5: the pad bits must be zero, else two texts decode the same. */
	if (bits && (acc & ((1u << bits) - 1)))
		return -EINVAL;
	*out_len = o;
	return 0;
}

long sl_b64url_encode(const void *in, size_t len, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = SL_B64URL_ENCODED_LEN(len), i, o = 0;

	if (need >= cap)
		return -ENOBUFS;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		out[o++] = alphabet[p[i] >> 2];
		out[o++] = alphabet[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[o++] = alphabet[v >> 10];
		out[o++] = alphabet[v >> 4 & 63];
		out[o++] = alphabet[(v & 15) << 2];
	}
	out[o] = '\0';
	return (long)o;
}
