/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * base64url without padding (RFC 4648 §5), the encoding of every part of a
 * compact JWS (RFC 7515 §2, §7.1). Decoding is strict: only the URL-safe
 * alphabet, no '=' and no whitespace (RFC 7515 §2 forbids both), no length
 * that leaves a lone character, and the unused low bits of the last character
 * must be zero (RFC 4648 §3.5). Strictness gives one spelling per byte
 * string, so a token cannot be altered in its text while keeping a valid
 * signature over what it decodes to.
 */
#ifndef SLUICE_AUTH_B64URL_H
#define SLUICE_AUTH_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Decoded size of len encoded characters (an upper bound when len is invalid). */
#define SL_B64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)

/* Encoded size of len bytes, without padding and without a NUL. */
#define SL_B64URL_ENCODED_LEN(len) ((len) / 3 * 4 + ((len) % 3 ? (len) % 3 + 1 : 0))

/*
 * Decodes in[0..len) into out (cap bytes). Returns 0 with *out_len set,
 * -EINVAL when the text is not canonical unpadded base64url, -ENOBUFS when
 * out is too small. out is not written past what fits.
 */
int sl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Encodes in[0..len) into out (cap bytes) and NUL-terminates it. Returns the
 * encoded length, or -ENOBUFS when out cannot hold it and the NUL.
 */
long sl_b64url_encode(const void *in, size_t len, char *out, size_t cap);

#endif
