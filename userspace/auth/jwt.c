// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The order of the checks follows RFC 7515 §5.2 (message validation), with
 * the bounds first so that no work is proportional to more than
 * SL_JWT_MAX_TOKEN_BYTES, and the algorithm refused before the claims are
 * even decoded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "auth/b64url.h"
#include "auth/jwt.h"

#define SHA256_LEN 32
#define ES256_SIG_LEN 64 /* R || S, 32 bytes each (RFC 7518 §3.4) */

struct sl_jwt_key {
	enum sl_jwt_alg alg;
	uint8_t *secret;
	size_t secret_len;
	bool has_rsa, has_ecc;
	RsaKey rsa;
	ecc_key ecc;
	uint8_t fingerprint[SHA256_LEN];
};

const char *sl_jwt_alg_name(enum sl_jwt_alg alg)
{
	switch (alg) {
	case SL_JWT_HS256:
		return "HS256";
	case SL_JWT_RS256:
		return "RS256";
	case SL_JWT_ES256:
		return "ES256";
	default:
		return "invalid";
	}
}

enum sl_jwt_alg sl_jwt_alg_parse(const char *s)
{
	if (!strcmp(s, "HS256"))
		return SL_JWT_HS256;
	if (!strcmp(s, "RS256"))
		return SL_JWT_RS256;
	if (!strcmp(s, "ES256"))
		return SL_JWT_ES256;
	return SL_JWT_ALG_INVALID;
}

bool sl_jwt_equal_ct(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;
	size_t i;

	for (i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static int fail(const char **why, int err, const char *msg)
{
	if (why)
		*why = msg;
	return err;
}

/*
 * jansson's own nesting limit is 2048 levels; this one is checked on the
 * text before jansson allocates anything for it. Brackets inside strings do
 * not count; the JSON itself is validated by jansson afterwards.
 */
static bool depth_within(const uint8_t *s, size_t len, int max)
{
	bool in_string = false, escaped = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* Decodes one part and parses it as a JSON object (RFC 7515 §5.2 steps 2-4, 6-7). */
static int decode_object(const char *part, size_t len, uint8_t *buf, size_t cap, json_t **out,
			 const char **why, const char *what_bad, const char *what_big)
{
	json_error_t jerr;
	size_t n;
	int err;
	json_t *v;

	err = sl_b64url_decode(part, len, buf, cap, &n);
	if (err == -ENOBUFS)
		return fail(why, -EMSGSIZE, what_big);
	if (err)
		return fail(why, -EINVAL, what_bad);
	if (!depth_within(buf, n, SL_JWT_MAX_DEPTH))
		return fail(why, -EMSGSIZE, "the token's JSON nests too deeply");
	/*
	 * Duplicate member names are refused: RFC 7515 §5.2 and RFC 7519 §4
	 * allow it, and two readers taking different copies is how a claim is
	 * smuggled past one of them. jansson refuses \u0000 and bad UTF-8.
	 */
	v = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return fail(why, -EINVAL, what_bad);
	if (!json_is_object(v)) {
		json_decref(v);
		return fail(why, -EINVAL, what_bad);
	}
	*out = v;
	return 0;
}

/*
 * `typ` is optional (RFC 7519 §5.1); when present it must say JWT, so that a
 * token minted for another purpose by the same key is not taken for an
 * access token (RFC 8725 §3.11). RFC 9068 access tokens say at+jwt.
 */
static bool typ_accepted(const char *typ)
{
	static const char *const ok[] = { "JWT", "application/jwt", "at+jwt",
					  "application/at+jwt" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcasecmp(typ, ok[i]))
			return true;
	return false;
}

static int check_header(struct sl_jwt *jwt, const char **why)
{
	json_t *alg = json_object_get(jwt->header, "alg"), *v;
	const char *name;

	if (!json_is_string(alg))
		return fail(why, -EINVAL, "the token header has no alg");
	name = json_string_value(alg);
	jwt->alg = sl_jwt_alg_parse(name);
	if (jwt->alg == SL_JWT_ALG_INVALID) {
		/* RFC 8725 §3.1: unsigned tokens are never accepted, whatever else is configured.
		 */
		if (!strcasecmp(name, "none"))
			return fail(why, -ENOTSUP, "unsigned tokens (alg none) are never accepted");
		return fail(why, -ENOTSUP,
			    "the token's alg is not accepted: use HS256, RS256 or ES256");
	}
	if (json_object_get(jwt->header, "crit"))
		return fail(why, -EINVAL,
			    "the token header has crit: no JWS extension is supported (RFC 7515 "
			    "§4.1.11)");
	v = json_object_get(jwt->header, "typ");
	if (v && !(json_is_string(v) && typ_accepted(json_string_value(v))))
		return fail(why, -EINVAL, "the token's typ is not JWT");
	/* RFC 7519 §5.2: cty JWT means a nested token, which this gateway does not unwrap. */
	v = json_object_get(jwt->header, "cty");
	if (v && (!json_is_string(v) || !strcasecmp(json_string_value(v), "JWT")))
		return fail(why, -EINVAL, "nested tokens (cty JWT) are not accepted");
	v = json_object_get(jwt->header, "kid");
	if (v && !json_is_string(v))
		return fail(why, -EINVAL, "the token header's kid is not a string");
	jwt->kid = v ? json_string_value(v) : NULL;
	/*
	 * jku, jwk, x5u and x5c are ignored on purpose: a key named by the token
	 * is chosen by whoever made the token (RFC 8725 §3.10).
	 */
	return 0;
}

int sl_jwt_parse(const char *token, size_t len, struct sl_jwt *jwt, const char **why)
{
	uint8_t header[SL_JWT_MAX_HEADER_BYTES];
	uint8_t *claims = NULL;
	const char *dot1, *dot2, *sig;
	size_t n;
	int err;

	memset(jwt, 0, sizeof(*jwt));
	if (len > SL_JWT_MAX_TOKEN_BYTES)
		return fail(why, -EMSGSIZE, "the token is longer than 8192 bytes");
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2)
		return fail(why, -EINVAL, "a JWT is three base64url parts separated by dots");
	sig = dot2 + 1;
	if (memchr(sig, '.', len - (size_t)(sig - token)))
		return fail(why, -EINVAL,
			    "the token has more than three parts (encrypted JWE tokens are not "
			    "accepted)");

	err = decode_object(token, (size_t)(dot1 - token), header, sizeof(header), &jwt->header,
			    why, "the token header is not a base64url-encoded JSON object",
			    "the token header is too large");
	if (err)
		return err;
	err = check_header(jwt, why);
	if (err)
		goto out;

	claims = malloc(SL_JWT_MAX_CLAIMS_BYTES);
	if (!claims) {
		err = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	err = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), claims, SL_JWT_MAX_CLAIMS_BYTES,
			    &jwt->claims, why,
			    "the token payload is not a base64url-encoded JSON object",
			    "the token payload is too large");
	if (err)
		goto out;

	/* Every accepted algorithm signs: an empty signature is never valid (RFC 7515 §5.2 step 7).
	 */
	n = len - (size_t)(sig - token);
	if (n == 0) {
		err = fail(why, -EINVAL, "the token has no signature");
		goto out;
	}
	err = sl_b64url_decode(sig, n, jwt->sig, sizeof(jwt->sig), &jwt->sig_len);
	if (err) {
		err = fail(why, -EINVAL,
			   err == -ENOBUFS ? "the token's signature is too long"
					   : "the token's signature is not base64url");
		goto out;
	}
	jwt->signing_input = token;
	jwt->signing_input_len = (size_t)(dot2 - token);
out:
	free(claims);
	if (err)
		sl_jwt_fini(jwt);
	return err;
}

void sl_jwt_fini(struct sl_jwt *jwt)
{
	json_decref(jwt->header);
	json_decref(jwt->claims);
	memset(jwt, 0, sizeof(*jwt));
}

/* ---- Keys ----------------------------------------------------------------------------------- */

enum sl_jwt_alg sl_jwt_key_alg(const struct sl_jwt_key *key)
{
	return key->alg;
}

void sl_jwt_key_fingerprint(const struct sl_jwt_key *key, uint8_t out[32])
{
	memcpy(out, key->fingerprint, sizeof(key->fingerprint));
}

int sl_jwt_key_new_hmac(struct sl_jwt_key **out, const void *secret, size_t len, const char **why)
{
	struct sl_jwt_key *key;

	*out = NULL;
	if (len < SL_JWT_MIN_SECRET_BYTES)
		return fail(
		    why, -EINVAL,
		    "an HS256 secret needs at least 32 bytes (RFC 7518 §3.2: as long as the "
		    "hash)");
	key = calloc(1, sizeof(*key));
	if (!key)
		return fail(why, -ENOMEM, "out of memory");
	key->secret = malloc(len);
	if (!key->secret) {
		free(key);
		return fail(why, -ENOMEM, "out of memory");
	}
	memcpy(key->secret, secret, len);
	key->secret_len = len;
	key->alg = SL_JWT_HS256;
	if (wc_Sha256Hash(key->secret, (word32)len, key->fingerprint)) {
		sl_jwt_key_free(key);
		return fail(why, -ENOMEM, "out of memory");
	}
	*out = key;
	return 0;
}

/*
 * Explains PEM text that is not a SubjectPublicKeyInfo, with the openssl
 * command that makes one, since a certificate or a private key is the usual
 * thing found in its place.
 */
static const char *pem_problem(const char *pem, size_t len)
{
	if (memmem(pem, len, "PRIVATE KEY-----", 16))
		return "the file holds a private key: give only the public key "
		       "(openssl pkey -in KEY -pubout)";
	if (memmem(pem, len, "-----BEGIN PUBLIC KEY-----", 26))
		return NULL;
	if (memmem(pem, len, "-----BEGIN RSA PUBLIC KEY-----", 30))
		return "the file holds a PKCS#1 RSA key: convert it to BEGIN PUBLIC KEY "
		       "(openssl rsa -RSAPublicKey_in -in FILE -pubout)";
	if (memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27))
		return "the file holds a certificate: give its public key "
		       "(openssl x509 -in CERT -pubkey -noout)";
	return "the file holds no PEM public key (-----BEGIN PUBLIC KEY-----)";
}

int sl_jwt_key_new_pem(struct sl_jwt_key **out, enum sl_jwt_alg alg, const char *pem, size_t len,
		       const char **why)
{
	struct sl_jwt_key *key = NULL;
	const char *problem;
	uint8_t *der = NULL;
	word32 idx;
	int n, err;

	*out = NULL;
	if (alg != SL_JWT_RS256 && alg != SL_JWT_ES256)
		return fail(why, -EINVAL, "only RS256 and ES256 use a public key");
	problem = pem_problem(pem, len);
	if (problem)
		return fail(why, -EINVAL, problem);
	if (len > INT32_MAX)
		return fail(why, -EINVAL, "the file is too large");
	key = calloc(1, sizeof(*key));
	der = malloc(len);
	if (!key || !der) {
		err = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	key->alg = alg;
	n = wc_PubKeyPemToDer((const unsigned char *)pem, (int)len, der, (int)len);
	if (n <= 0) {
		err = fail(why, -EINVAL, "the PEM public key does not decode");
		goto out;
	}
	if (wc_Sha256Hash(der, (word32)n, key->fingerprint)) {
		err = fail(why, -ENOMEM, "out of memory");
		goto out;
	}

	if (wc_InitRsaKey(&key->rsa, NULL)) {
		err = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	key->has_rsa = true;
	idx = 0;
	if (wc_RsaPublicKeyDecode(der, &idx, &key->rsa, (word32)n) == 0) {
		int bits = wc_RsaEncryptSize(&key->rsa) * 8;

		if (alg != SL_JWT_RS256) {
			err = fail(why, -EINVAL,
				   "the file holds an RSA key, not the EC P-256 key "
				   "ES256 needs");
			goto out;
		}
		if (bits < SL_JWT_MIN_RSA_BITS || bits > SL_JWT_MAX_RSA_BITS) {
			err = fail(why, -EINVAL,
				   "the RSA key must have 2048 to 4096 bits (RFC 7518 §3.3)");
			goto out;
		}
		*out = key;
		key = NULL;
		err = 0;
		goto out;
	}
	wc_FreeRsaKey(&key->rsa);
	key->has_rsa = false;

	if (wc_ecc_init(&key->ecc)) {
		err = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	key->has_ecc = true;
	idx = 0;
	if (wc_EccPublicKeyDecode(der, &idx, &key->ecc, (word32)n) == 0) {
		if (alg != SL_JWT_ES256) {
			err = fail(why, -EINVAL,
				   "the file holds an EC key, not the RSA key RS256 "
				   "needs");
			goto out;
		}
		/* RFC 7518 §3.4: ES256 is ECDSA on P-256 and nothing else. */
		if (wc_ecc_get_curve_id(key->ecc.idx) != ECC_SECP256R1) {
			err = fail(why, -EINVAL, "the EC key is not on P-256, which ES256 needs");
			goto out;
		}
		if (wc_ecc_check_key(&key->ecc)) {
			err = fail(why, -EINVAL, "the EC public key is not a valid P-256 point");
			goto out;
		}
		*out = key;
		key = NULL;
		err = 0;
		goto out;
	}
	err = fail(why, -EINVAL, "the file holds neither an RSA nor an EC public key");
out:
	free(der);
	sl_jwt_key_free(key);
	return err;
}

void sl_jwt_key_free(struct sl_jwt_key *key)
{
	if (!key)
		return;
	if (key->secret) {
		explicit_bzero(key->secret, key->secret_len);
		free(key->secret);
	}
	if (key->has_rsa)
		wc_FreeRsaKey(&key->rsa);
	if (key->has_ecc)
		wc_ecc_free(&key->ecc);
	free(key);
}

/* ---- Verification --------------------------------------------------------------------------- */

static int verify_hs256(const struct sl_jwt *jwt, struct sl_jwt_key *key)
{
	uint8_t mac[SHA256_LEN];
	Hmac hmac;
	int ret;

	/* RFC 7518 §3.2: the whole MAC, never a truncation of it. */
	if (jwt->sig_len != SHA256_LEN)
		return -EBADMSG;
	if (wc_HmacInit(&hmac, NULL, INVALID_DEVID))
		return -ENOMEM;
	ret = wc_HmacSetKey(&hmac, WC_SHA256, key->secret, (word32)key->secret_len);
	if (!ret)
		ret = wc_HmacUpdate(&hmac, (const byte *)jwt->signing_input,
				    (word32)jwt->signing_input_len);
	if (!ret)
		ret = wc_HmacFinal(&hmac, mac);
	wc_HmacFree(&hmac);
	if (ret)
		return ret == MEMORY_E ? -ENOMEM : -EBADMSG;
	/* Constant time: a byte-wise early exit would let a client find the MAC byte by byte. */
	ret = sl_jwt_equal_ct(mac, jwt->sig, SHA256_LEN) ? 0 : -EBADMSG;
	explicit_bzero(mac, sizeof(mac));
	return ret;
}

/*
 * RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.2): the signature must be exactly as long
 * as the modulus, and the recovered block must be the DER DigestInfo for
 * SHA-256 (§9.2 note 1) followed by the hash, compared whole rather than
 * parsed, which is the safe way to check PKCS#1 v1.5 signatures.
 */
static int verify_rs256(const struct sl_jwt *jwt, struct sl_jwt_key *key, const uint8_t *hash)
{
	static const uint8_t digest_info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
					       0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					       0x01, 0x05, 0x00, 0x04, 0x20 };
	uint8_t want[sizeof(digest_info) + SHA256_LEN], got[SL_JWT_MAX_SIG_BYTES];
	int n;

	if (jwt->sig_len != (size_t)wc_RsaEncryptSize(&key->rsa))
		return -EBADMSG;
	n = wc_RsaSSL_Verify(jwt->sig, (word32)jwt->sig_len, got, sizeof(got), &key->rsa);
	if (n == MEMORY_E)
		return -ENOMEM;
	memcpy(want, digest_info, sizeof(digest_info));
	memcpy(want + sizeof(digest_info), hash, SHA256_LEN);
	if (n != (int)sizeof(want) || !sl_jwt_equal_ct(got, want, sizeof(want)))
		return -EBADMSG;
	return 0;
}

/*
 * RFC 7518 §3.4: the JWS signature is R || S as two 32-byte big-endian
 * integers, not the DER SEQUENCE wolfSSL verifies, so it is re-encoded. The
 * range checks (1 <= r, s < n) are wolfSSL's.
 */
static int verify_es256(const struct sl_jwt *jwt, struct sl_jwt_key *key, const uint8_t *hash)
{
	uint8_t der[ES256_SIG_LEN + 16];
	word32 der_len = sizeof(der);
	int ret, valid = 0;

	if (jwt->sig_len != ES256_SIG_LEN)
		return -EBADMSG;
	ret = wc_ecc_rs_raw_to_sig(jwt->sig, ES256_SIG_LEN / 2, jwt->sig + ES256_SIG_LEN / 2,
				   ES256_SIG_LEN / 2, der, &der_len);
	if (ret)
		return ret == MEMORY_E ? -ENOMEM : -EBADMSG;
	ret = wc_ecc_verify_hash(der, der_len, hash, SHA256_LEN, &valid, &key->ecc);
	if (ret == MEMORY_E)
		return -ENOMEM;
	return ret == 0 && valid == 1 ? 0 : -EBADMSG;
}

int sl_jwt_verify(const struct sl_jwt *jwt, struct sl_jwt_key *key)
{
	uint8_t hash[SHA256_LEN];

	/* RFC 8725 §3.1: the key decides the algorithm; a token asking for another is refused. */
	if (jwt->alg != key->alg)
		return -EPERM;
	switch (key->alg) {
	case SL_JWT_HS256:
		return verify_hs256(jwt, key);
	case SL_JWT_RS256:
	case SL_JWT_ES256:
		if (wc_Sha256Hash((const byte *)jwt->signing_input, (word32)jwt->signing_input_len,
				  hash))
			return -ENOMEM;
		return key->alg == SL_JWT_RS256 ? verify_rs256(jwt, key, hash)
						: verify_es256(jwt, key, hash);
	default:
		return -EPERM;
	}
}
