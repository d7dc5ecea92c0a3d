/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Hex digits to bytes: the SHA-256 digests a policy names keys and
 * certificates by, and the %XX escapes of a handshake's query string.
 */
#ifndef SLUICE_AUTH_HEX_H
#define SLUICE_AUTH_HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the 2 * n characters at hex into n bytes at out, either case.
 * Returns 0, or -EINVAL at the first character that is not a hex digit
 * (out may then be partly written).
 */
int sl_hex_decode(const char *hex, size_t n, uint8_t *out);

#endif
