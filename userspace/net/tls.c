// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "net/tls.h"

struct sl_tls_ctx {
	WOLFSSL_CTX *ctx;
};

struct sl_tls {
	WOLFSSL *ssl;
	int fd;
	struct sl_outq *q;
};

/* Reads straight from the nonblocking socket. */
static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct sl_tls *t = arg;
	ssize_t n;

	(void)ssl;
	n = recv(t->fd, buf, (size_t)sz, 0);
	if (n > 0)
		return (int)n;
	if (n == 0)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (errno == EINTR)
		return WOLFSSL_CBIO_ERR_ISR;
	return WOLFSSL_CBIO_ERR_CONN_RST;
}

/* Never blocks: records go to the output queue, the gateway's flush writes them. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct sl_tls *t = arg;

	(void)ssl;
	if (sl_outq_push_copy(t->q, buf, (size_t)sz))
		return WOLFSSL_CBIO_ERR_GENERAL;
	return sz;
}

/*
 * Whether the context's private key is the one its certificate names: a
 * signature by the key checked with the certificate's public key. (This
 * wolfSSL's CTX_check_private_key passes any EC key of the same curve.)
 */
static bool key_fits_certificate(WOLFSSL_CTX *ctx)
{
	static const unsigned char probe[] = "sluice";
	WOLFSSL_X509 *cert = wolfSSL_CTX_get0_certificate(ctx);
	WOLFSSL_EVP_PKEY *key = wolfSSL_CTX_get0_privatekey(ctx);
	WOLFSSL_EVP_PKEY *pub = cert ? wolfSSL_X509_get_pubkey(cert) : NULL;
	WOLFSSL_EVP_MD_CTX *sign = wolfSSL_EVP_MD_CTX_new(), *verify = wolfSSL_EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	bool fits =
	    key && pub && sign && verify &&
	    wolfSSL_EVP_DigestSignInit(sign, NULL, wolfSSL_EVP_sha256(), NULL, key) == 1 &&
	    wolfSSL_EVP_DigestSignUpdate(sign, probe, sizeof(probe)) == 1 &&
	    wolfSSL_EVP_DigestSignFinal(sign, sig, &sig_len) == 1 &&
	    wolfSSL_EVP_DigestVerifyInit(verify, NULL, wolfSSL_EVP_sha256(), NULL, pub) == 1 &&
	    wolfSSL_EVP_DigestVerifyUpdate(verify, probe, sizeof(probe)) == 1 &&
	    wolfSSL_EVP_DigestVerifyFinal(verify, sig, sig_len) == 1;

	wolfSSL_EVP_MD_CTX_free(sign);
	wolfSSL_EVP_MD_CTX_free(verify);
	wolfSSL_EVP_PKEY_free(pub);
	return fits;
}

int sl_tls_ctx_new(struct sl_tls_ctx **out, const char *cert_file, const char *key_file,
		   const char *client_ca_file, char *err, size_t errlen)
{
	struct sl_tls_ctx *c;

	*out = NULL;
	wolfSSL_Init();
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	if (!c->ctx)
		goto nomem;
	/* TLS 1.2 and 1.3 only (older versions are broken or deprecated: RFC 8996). */
	if (wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set the minimum TLS version");
		goto fail;
	}
	/* Modern AEAD suites only; TLS 1.3 suites are all AEAD. */
	wolfSSL_CTX_set_cipher_list(c->ctx,
				    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
				    "TLS13-CHACHA20-POLY1305-SHA256:"
				    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
	if (!cert_file ||
	    wolfSSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot load the TLS certificate %s",
			 cert_file ? cert_file : "(none)");
		goto fail;
	}
	if (!key_file || wolfSSL_CTX_use_PrivateKey_file(c->ctx, key_file, WOLFSSL_FILETYPE_PEM) !=
			     WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot load the TLS private key %s",
			 key_file ? key_file : "(none)");
		goto fail;
	}
	/*
	 * Both load on their own when they are not a pair (a renewal that copied
	 * the new certificate before its key): every handshake would then fail.
	 */
	if (!key_fits_certificate(c->ctx)) {
		snprintf(err, errlen, "the TLS private key %s does not match the certificate %s",
			 key_file, cert_file);
		goto fail;
	}
	if (client_ca_file) {
		if (wolfSSL_CTX_load_verify_locations(c->ctx, client_ca_file, NULL) !=
		    WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "cannot load the client CA %s", client_ca_file);
			goto fail;
		}
		/* Ask for a certificate and verify one if sent; credentials may come otherwise. */
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
	} else {
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
	}
	/*
	 * No session tickets: a TLS 1.3 NewSessionTicket goes out as an
	 * application-data record after the handshake, which the kernel meter
	 * would count as an event. Subscribers reconnect rarely; a full handshake
	 * is cheap next to a long-lived stream.
	 */
	wolfSSL_CTX_no_ticket_TLSv13(c->ctx);
	wolfSSL_CTX_NoTicketTLSv12(c->ctx);
	wolfSSL_CTX_SetIORecv(c->ctx, io_recv);
	wolfSSL_CTX_SetIOSend(c->ctx, io_send);
	*out = c;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	sl_tls_ctx_free(c);
	return -EINVAL;
}

void sl_tls_ctx_free(struct sl_tls_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->ctx)
		wolfSSL_CTX_free(ctx->ctx);
	free(ctx);
}

struct sl_tls *sl_tls_new(struct sl_tls_ctx *ctx, int fd, struct sl_outq *q)
{
	struct sl_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = fd;
	t->q = q;
	t->ssl = wolfSSL_new(ctx->ctx);
	if (!t->ssl) {
		free(t);
		return NULL;
	}
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	return t;
}

void sl_tls_free(struct sl_tls *tls)
{
	if (!tls)
		return;
	wolfSSL_free(tls->ssl);
	free(tls);
}

/* wolfSSL's verdict on a client certificate, as an authentication failure's reason. */
static enum sl_auth_reason cert_refusal(int e)
{
	switch (e) {
	case ASN_AFTER_DATE_E:
		return SL_AUTH_EXPIRED;
	case ASN_BEFORE_DATE_E:
		return SL_AUTH_NOT_YET_VALID;
	case ASN_NO_SIGNER_E:
		return SL_AUTH_UNKNOWN_ISSUER;
	case ASN_SIG_CONFIRM_E:
	case VERIFY_CERT_ERROR:
		return SL_AUTH_BAD_SIGNATURE;
	default:
		return SL_AUTH_OK;
	}
}

int sl_tls_handshake(struct sl_tls *tls, const char **why, enum sl_auth_reason *cert_refused)
{
	int ret = wolfSSL_accept(tls->ssl), e;

	*cert_refused = SL_AUTH_OK;
	if (ret == WOLFSSL_SUCCESS)
		return 0;
	e = wolfSSL_get_error(tls->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	*why = wolfSSL_ERR_reason_error_string((unsigned long)e);
	*cert_refused = cert_refusal(e);
	return -EPROTO;
}

ssize_t sl_tls_read(struct sl_tls *tls, void *buf, size_t len)
{
	int n = wolfSSL_read(tls->ssl, buf, (int)len), e;

	if (n > 0)
		return n;
	e = wolfSSL_get_error(tls->ssl, n);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == WOLFSSL_ERROR_ZERO_RETURN || n == 0)
		return 0;
	return -EPROTO;
}

bool sl_tls_pending(struct sl_tls *tls)
{
	return wolfSSL_pending(tls->ssl) > 0;
}

int sl_tls_write(struct sl_tls *tls, const void *data, size_t len)
{
	size_t at = 0;
	int n;

	while (at < len) {
		size_t chunk = len - at > 16384 ? 16384 : len - at;

		n = wolfSSL_write(tls->ssl, (const char *)data + at, (int)chunk);
		if (n <= 0)
			return -EPROTO;
		at += (size_t)n;
	}
	return 0;
}

size_t sl_tls_wire_len(struct sl_tls *tls, size_t len)
{
	size_t wire = 0, at = 0;

	while (at < len) {
		size_t chunk = len - at > 16384 ? 16384 : len - at;
		int n = wolfSSL_GetOutputSize(tls->ssl, (int)chunk);

		/* Before the handshake is done: the largest expansion a suite here adds. */
		wire += n > 0 ? (size_t)n : chunk + 29;
		at += chunk;
	}
	return wire;
}

/*
 * The subject CN into cn, or "" when it cannot name anyone exactly: no CN,
 * more than one, one that does not fit in cn_len - 1 bytes, or one with a
 * NUL inside. The C string of such a CN would be a part of it ("backend" of
 * "backend\0.intruder", of a cut long name, or of the first of two CNs), and
 * the part would match an application's CN that the whole does not.
 */
static void subject_cn(WOLFSSL_X509 *cert, char *cn, size_t cn_len)
{
	WOLFSSL_X509_NAME *subject = wolfSSL_X509_get_subject_name(cert);
	WOLFSSL_ASN1_STRING *value;
	const unsigned char *data;
	int at, len;

	cn[0] = '\0';
	if (!subject)
		return;
	at = wolfSSL_X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if (at < 0 || wolfSSL_X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0)
		return;
	value = wolfSSL_X509_NAME_ENTRY_get_data(wolfSSL_X509_NAME_get_entry(subject, at));
	data = value ? wolfSSL_ASN1_STRING_get0_data(value) : NULL;
	len = value ? wolfSSL_ASN1_STRING_length(value) : 0;
	if (!data || len <= 0 || (size_t)len >= cn_len || memchr(data, 0, (size_t)len))
		return;
	memcpy(cn, data, (size_t)len);
	cn[len] = '\0';
}

int sl_tls_peer(struct sl_tls *tls, char *cn, size_t cn_len, uint8_t sha256[32])
{
	WOLFSSL_X509 *cert = wolfSSL_get_peer_certificate(tls->ssl);
	const unsigned char *der;
	int der_len = 0, ret = 0;

	if (!cert)
		return -ENOENT;
	der = wolfSSL_X509_get_der(cert, &der_len);
	if (!der || der_len <= 0 || wc_Sha256Hash(der, (word32)der_len, sha256) != 0)
		ret = -EINVAL;
	if (!ret && cn && cn_len)
		subject_cn(cert, cn, cn_len);
	wolfSSL_X509_free(cert);
	return ret;
}

const char *sl_tls_version(struct sl_tls *tls)
{
	return wolfSSL_get_version(tls->ssl);
}

void sl_tls_shutdown(struct sl_tls *tls)
{
	wolfSSL_shutdown(tls->ssl);
}
