/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS with wolfSSL for the gateway's listeners. The socket I/O stays ours:
 * wolfSSL reads from the fd through a callback, and its output goes into
 * the connection's output queue, so the one write path (sendmsg, short-write
 * resync of the kernel meter) serves plaintext and TLS alike. Every
 * sl_tls_write of at most 16 KiB becomes exactly one record: one event, one
 * record, which is what the kernel meter counts.
 */
#ifndef SLUICE_NET_TLS_H
#define SLUICE_NET_TLS_H

#include "auth/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/outq.h"

struct sl_tls_ctx;
struct sl_tls;

/* TLS 1.2 and 1.3 only. With client_ca_file, client certificates are asked for and verified. */
int sl_tls_ctx_new(struct sl_tls_ctx **out, const char *cert_file, const char *key_file,
		   const char *client_ca_file, char *err, size_t errlen);
void sl_tls_ctx_free(struct sl_tls_ctx *ctx);

struct sl_tls *sl_tls_new(struct sl_tls_ctx *ctx, int fd, struct sl_outq *q);
void sl_tls_free(struct sl_tls *tls);

/*
 * 0 when the handshake is complete, -EAGAIN for more I/O, -EPROTO on
 * failure (*why set). *cert_refused is the authentication failure's reason
 * when what failed was the client's certificate (expired, not yet valid, of
 * an unknown CA, a bad signature), else SL_AUTH_OK.
 */
int sl_tls_handshake(struct sl_tls *tls, const char **why, enum sl_auth_reason *cert_refused);

/* Plaintext: bytes read (> 0), 0 at the peer's close, -EAGAIN, or -EPROTO. */
ssize_t sl_tls_read(struct sl_tls *tls, void *buf, size_t len);

/*
 * True when plaintext waits inside the TLS session: a record is decrypted
 * whole, so what a read had no room for stays there, and no byte on the
 * socket may come to say so.
 */
bool sl_tls_pending(struct sl_tls *tls);

/* Encrypts data (one record per 16 KiB) into the output queue. */
int sl_tls_write(struct sl_tls *tls, const void *data, size_t len);

/*
 * What sl_tls_write of len bytes puts on the wire: the records with their
 * headers and tags (22 bytes more each in TLS 1.3, 29 with TLS 1.2's GCM),
 * which is what the kernel meter's byte rate counts.
 */
size_t sl_tls_wire_len(struct sl_tls *tls, size_t len);

/*
 * The verified client certificate: subject CN and SHA-256 of its DER. -ENOENT
 * when none. cn is "" unless the subject has exactly one CN, shorter than
 * cn_len and without a NUL (a part of a CN must not name anyone).
 */
int sl_tls_peer(struct sl_tls *tls, char *cn, size_t cn_len, uint8_t sha256[32]);

const char *sl_tls_version(struct sl_tls *tls);

/* Queues a close_notify alert (RFC 8446 §6.1) before the connection's FIN. */
void sl_tls_shutdown(struct sl_tls *tls);

#endif
