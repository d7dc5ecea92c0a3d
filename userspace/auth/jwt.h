/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * JSON Web Tokens as compact JWS (RFC 7519, RFC 7515 §7.1): splitting,
 * strict decoding, the JOSE header, and signature verification with
 * wolfSSL for the three algorithms sluice accepts: HS256, RS256 and ES256
 * (RFC 7518 §3.2-§3.4). Claims are the caller's (auth.c); this module only
 * hands them over as a JSON object once the token is well-formed.
 *
 *	struct sl_jwt jwt;
 *	int err = sl_jwt_parse(token, len, &jwt, &why);	// -ENOTSUP: alg refused
 *	...pick the key by issuer, refuse when its alg differs from jwt.alg...
 *	err = sl_jwt_verify(&jwt, key);				// -EBADMSG: bad signature
 *	sl_jwt_fini(&jwt);
 *
 * Nothing read from a token chooses a key or an algorithm by itself: the key
 * comes from the configuration and carries its algorithm, and sl_jwt_verify
 * refuses a token whose `alg` differs (RFC 8725 §2.1, §3.1).
 */
#ifndef SLUICE_AUTH_JWT_H
#define SLUICE_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Bounds on what an unauthenticated client can make us decode and parse.
 * 8 KiB is what common servers allow for a whole header line; real tokens
 * are well under 2 KiB. A JOSE header is a handful of short members. Claims
 * nest little (Keycloak's realm_access.roles is depth 3).
 */
#define SL_JWT_MAX_TOKEN_BYTES 8192
#define SL_JWT_MAX_HEADER_BYTES 1024 /* decoded JOSE header JSON */
#define SL_JWT_MAX_CLAIMS_BYTES (SL_JWT_MAX_TOKEN_BYTES / 4 * 3)
#define SL_JWT_MAX_DEPTH 8
#define SL_JWT_MAX_SIG_BYTES 512 /* an RS256 signature with a 4096-bit key */

/* HMAC-SHA256 keys shorter than the hash are refused (RFC 7518 §3.2). */
#define SL_JWT_MIN_SECRET_BYTES 32
/* RFC 7518 §3.3 requires 2048 bits or more; above 4096 is not worth the verify cost. */
#define SL_JWT_MIN_RSA_BITS 2048
#define SL_JWT_MAX_RSA_BITS 4096

enum sl_jwt_alg {
	SL_JWT_ALG_INVALID = 0,
	SL_JWT_HS256 = 1,
	SL_JWT_RS256 = 2,
	SL_JWT_ES256 = 3,
};

/* "HS256", "RS256", "ES256" or "invalid". */
const char *sl_jwt_alg_name(enum sl_jwt_alg alg);

/* The algorithm named exactly s (names are case-sensitive, RFC 7515 §4.1.1), or INVALID. */
enum sl_jwt_alg sl_jwt_alg_parse(const char *s);

/* A parsed token. Strings point into the token given to sl_jwt_parse. */
struct sl_jwt {
	enum sl_jwt_alg alg;
	json_t *header;		   /* the JOSE header: a JSON object */
	json_t *claims;		   /* the claims set: a JSON object */
	const char *kid;	   /* the header's `kid`, NULL when absent; owned by header */
	const char *signing_input; /* "HEADER.PAYLOAD" as sent (RFC 7515 §5.2 step 8) */
	size_t signing_input_len;
	uint8_t sig[SL_JWT_MAX_SIG_BYTES];
	size_t sig_len;
};

/*
 * Parses a compact JWS: three base64url parts, a JOSE header naming one of
 * the accepted algorithms, no `crit` (RFC 7515 §4.1.11: we implement no
 * extension), `typ` absent or a JWT type, no nested JWT (`cty: JWT`), and a
 * claims set that is a JSON object without duplicate members. Returns 0, or
 * -EMSGSIZE (over a bound), -EINVAL (malformed), -ENOTSUP (alg `none` or
 * one not accepted) with *why a short static sentence without token bytes.
 * On error jwt needs no fini; on success call sl_jwt_fini.
 */
int sl_jwt_parse(const char *token, size_t len, struct sl_jwt *jwt, const char **why);

void sl_jwt_fini(struct sl_jwt *jwt);

/* A verification key and the one algorithm it may be used with. */
struct sl_jwt_key;

/* An HS256 secret (copied). -EINVAL when shorter than SL_JWT_MIN_SECRET_BYTES, or -ENOMEM. */
int sl_jwt_key_new_hmac(struct sl_jwt_key **out, const void *secret, size_t len, const char **why);

/*
 * A public key for alg (RS256 or ES256) from PEM text holding a
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"). -EINVAL with *why when the text
 * holds no such key, a private key, a key of the other type, an RSA key
 * outside 2048-4096 bits or an EC key not on P-256; -ENOMEM.
 */
int sl_jwt_key_new_pem(struct sl_jwt_key **out, enum sl_jwt_alg alg, const char *pem, size_t len,
		       const char **why);

void sl_jwt_key_free(struct sl_jwt_key *key);

enum sl_jwt_alg sl_jwt_key_alg(const struct sl_jwt_key *key);

/*
 * SHA-256 of the key as loaded (an HS256 secret's bytes, a public key's
 * DER): tells two keys apart (`sluicectl policy diff`) without showing one.
 */
void sl_jwt_key_fingerprint(const struct sl_jwt_key *key, uint8_t out[32]);

/*
 * Verifies jwt's signature with key. Returns 0, -EPERM when the token's alg
 * is not the key's (algorithm confusion), -EBADMSG when the signature does
 * not verify, or -ENOMEM. Not thread-safe on one key: wolfSSL's key structs
 * are used as scratch; give each event loop its own sl_auth.
 */
int sl_jwt_verify(const struct sl_jwt *jwt, struct sl_jwt_key *key);

/* Compares n bytes in time that depends only on n. */
bool sl_jwt_equal_ct(const void *a, const void *b, size_t n);

#endif
