/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Authentication at the handshake (SPEC "Authentication at the handshake"):
 * turns the credential a client presents into the application it acts as,
 * plus the narrowing of a JWT `scope` claim, or into a reason for refusing.
 *
 * Credentials: `Authorization: Bearer <JWT>`, `Authorization: ApiKey <key>`,
 * `X-API-Key: <key>`, and `?access_token=<JWT or key>` (also the token of a
 * publisher's hello). API keys are compared by SHA-256 against every stored
 * digest in constant time. JWTs are compact JWS signed with HS256, RS256 or
 * ES256, each issuer pinned to one algorithm and one key from the config's
 * `issuers` section:
 *
 *	issuers:
 *	  - name: acme-idp             # required, unique
 *	    alg: RS256                 # required: HS256 | RS256 | ES256
 *	    public_key_file: acme.pem  # RS256/ES256: PEM "BEGIN PUBLIC KEY", relative to the config
 *	    issuer: https://idp.acme   # optional: the `iss` the tokens carry
 *	    audience: sluice           # optional: must be in the tokens' `aud`
 *	  - name: internal
 *	    alg: HS256
 *	    secret_file: hs.key        # or secret: "..."; at least 32 bytes
 *
 * A token picks its issuer by its `iss` claim (equal to an issuer's `issuer`,
 * else to its `name`); with a single issuer configured, that one is used.
 * Claims: `exp` required (a token that never expires is refused), `nbf`
 * honoured, both with the config's jwt.leeway; `sub` names the application;
 * `scope` (space-separated topic patterns) can only narrow the application's
 * permissions. Typical use at the handshake:
 *
 *	struct sl_auth_result res;
 *	const char *why;
 *
 *	if (sl_auth_check(auth, SL_AUTH_SOURCE_AUTHORIZATION, hdr->value, hdr->value_len,
 *			  sl_now_ns(), &res, &why))
 *		-> 401 {"error": sl_auth_reason_name(res.reason), "detail": why}
 *	...
 *	if (!sl_auth_allows(&res, false, pattern)) -> 403
 *	...
 *	sl_auth_result_fini(&res);
 *
 * An sl_auth is read-only after sl_auth_new except for wolfSSL's scratch use
 * of the key structs during a verify: one per event loop (thread). It keeps
 * pointers into the sl_config it was made from, which must outlive it.
 */
#ifndef SLUICE_AUTH_AUTH_H
#define SLUICE_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* An API key longer than this is not one we issued; it is refused before hashing. */
#define SL_AUTH_MAX_KEY_BYTES 1024
/* Scope patterns kept from one token (a token is at most 8 KiB anyway). */
#define SL_AUTH_MAX_SCOPE_PATTERNS 256

/*
 * Why a credential was refused: one namespace for the 401 body's "error",
 * logs and a metrics label (like the kernel's drop reasons).
 */
enum sl_auth_reason {
	SL_AUTH_OK = 0,
	SL_AUTH_MISSING = 1,	     /* "missing": no credential at all */
	SL_AUTH_MALFORMED = 2,	     /* "malformed": not a JWT / key / scheme we read */
	SL_AUTH_TOO_LARGE = 3,	     /* "too_large": over a size or nesting bound */
	SL_AUTH_ALG_NOT_ALLOWED = 4, /* "alg_not_allowed": none, unknown, or not the issuer's */
	SL_AUTH_UNKNOWN_ISSUER = 5,  /* "unknown_issuer": no configured issuer fits */
	SL_AUTH_BAD_SIGNATURE = 6,   /* "bad_signature" */
	SL_AUTH_WRONG_ISSUER = 7,    /* "wrong_issuer": iss is not the issuer's */
	SL_AUTH_MISSING_CLAIM = 8,   /* "missing_claim": no exp or no sub */
	SL_AUTH_EXPIRED = 9,	     /* "expired" */
	SL_AUTH_NOT_YET_VALID = 10,  /* "not_yet_valid": nbf in the future */
	SL_AUTH_WRONG_AUDIENCE = 11, /* "wrong_audience" */
	SL_AUTH_UNKNOWN_APPLICATION = 12, /* "unknown_application": sub names none */
	SL_AUTH_UNKNOWN_KEY = 13,	  /* "unknown_key": no application has this API key */
	SL_AUTH_INTERNAL = 14,		  /* "internal": out of memory */
	/* "forbidden_origin": a browser page's Origin not in listeners.subscribers.origins */
	SL_AUTH_FORBIDDEN_ORIGIN = 15,
	SL_AUTH_REASON_COUNT = 16,
};

/* "ok", "missing", "malformed", ... as listed above. */
const char *sl_auth_reason_name(enum sl_auth_reason reason);

/* Where the credential came from, which decides how it is read. */
enum sl_auth_source {
	/* An Authorization header value: "Bearer <JWT>" or "ApiKey <key>" (scheme
	 * case-insensitive). */
	SL_AUTH_SOURCE_AUTHORIZATION = 0,
	/* An X-API-Key header value: a key. */
	SL_AUTH_SOURCE_API_KEY = 1,
	/*
	 * An access_token query value (already percent-decoded) or a publisher's
	 * hello token: a JWT when it has exactly two dots, otherwise a key.
	 */
	SL_AUTH_SOURCE_TOKEN = 2,
};

enum sl_auth_method {
	SL_AUTH_METHOD_NONE = 0,
	SL_AUTH_METHOD_API_KEY = 1,
	SL_AUTH_METHOD_JWT = 2,
	SL_AUTH_METHOD_CERT = 3,
};

/* What sl_auth_check found. Zeroed by sl_auth_check; release with sl_auth_result_fini. */
struct sl_auth_result {
	const struct sl_config_app *app; /* NULL unless the check passed */
	enum sl_auth_method method;
	enum sl_auth_reason reason;
	const char *issuer;  /* JWT: the issuer's name (owned by the sl_auth) */
	uint64_t expires_ns; /* JWT: exp in Unix ns, for closing at expiry; 0 for keys */
	bool scoped;	     /* the token had a scope claim: only its patterns apply */
	char **scope;	     /* scope patterns that are valid topic patterns (owned) */
	uint32_t n_scope;
	uint32_t key_tag; /* API key: its SHA-256's first 4 bytes, for sl_auth_still_names */
};

struct sl_auth;

/*
 * Builds the authenticator for cfg: indexes the applications' API keys,
 * ids and client certificates, reads and checks the `issuers` section from
 * cfg->doc, loading every key file (relative to cfg->dir). Every problem
 * goes to diag as "FILE:LINE:COL: message". Returns 0 with *out set,
 * -EINVAL when diag got problems (*out NULL), or -ENOMEM.
 */
int sl_auth_new(struct sl_auth **out, const struct sl_config *cfg, struct sl_diag *diag);

void sl_auth_free(struct sl_auth *auth);

/* Issuers loaded; 0 means bearer tokens cannot be accepted. */
uint32_t sl_auth_issuer_count(const struct sl_auth *auth);

/* What an issuer accepts, for `policy show` and `policy diff`; the strings are auth's. */
struct sl_auth_issuer_info {
	const char *name, *alg;
	const char *issuer, *audience; /* NULL: not checked */
	uint8_t key_sha256[32];	       /* sl_jwt_key_fingerprint */
};

/* Issuer i (below sl_auth_issuer_count), in the order of the file. */
void sl_auth_issuer_info(const struct sl_auth *auth, uint32_t i, struct sl_auth_issuer_info *out);

/*
 * Checks the credential value[0..len) (not NUL-terminated; NULL or empty is
 * "missing") read as source says, at wall-clock time now_ns (Unix ns).
 * Returns 0 with res->app set, -EACCES with res->reason saying why, or
 * -ENOMEM (reason SL_AUTH_INTERNAL). *why (when not NULL) is a short static
 * sentence for the client: it never quotes the credential or a secret.
 */
int sl_auth_check(struct sl_auth *auth, enum sl_auth_source source, const char *value, size_t len,
		  uint64_t now_ns, struct sl_auth_result *res, const char **why);

/* Frees the scope and zeroes res; safe on a zeroed or already finished result. */
void sl_auth_result_fini(struct sl_auth_result *res);

/*
 * The application whose api_keys hold SHA-256(key), or NULL. Every stored
 * digest is compared, without an early exit, so the time taken does not
 * tell a near miss, an unknown key and a known one apart.
 */
const struct sl_config_app *sl_auth_key_lookup(const struct sl_auth *auth, const char *key,
					       size_t len, uint32_t *key_tag);

/*
 * Whether the API key or JWT that made res would still let its client in as
 * app under auth (a reloaded authenticator with its config): the key is
 * still one of app's (by its tag: a collision, odds 2^-32 per key, keeps a
 * revoked key's connection), the token's issuer is still configured (the
 * token itself is gone: a rotated issuer key is not checked; the connection
 * still ends at exp). res->issuer then points into auth. Certificates are
 * for the caller, who holds the peer's; any other method is true.
 */
bool sl_auth_still_names(const struct sl_auth *auth, struct sl_auth_result *res,
			 const struct sl_config_app *app);

/*
 * The application whose `certificates` name this client certificate: by its
 * SHA-256 fingerprint (of the DER) first, since that pins one certificate,
 * else by its subject CN. cn NULL or empty, or sha256 NULL, never matches.
 * The config refuses one fingerprint or CN in two applications, so the
 * answer is unambiguous. A plain binary search is fine here, unlike the
 * constant-time scan for API keys: a fingerprint and a CN are not secrets
 * but names of a certificate, and by the time this is asked wolfSSL has
 * verified the chain against client_ca_file and the client's possession of
 * the private key, so its timing tells nothing that would let anyone in.
 */
const struct sl_config_app *sl_auth_cert_lookup(const struct sl_auth *auth, const char *cn,
						const uint8_t sha256[32]);

/*
 * Whether res lets its client subscribe to pattern (publish false) or
 * publish to topic (publish true): the application must allow it, and when
 * the token was scoped some scope pattern must cover it too. A pattern is
 * covered when every topic it can match is (see sl_auth_pattern_covers).
 */
bool sl_auth_allows(const struct sl_auth_result *res, bool publish, const char *topic_or_pattern);

/*
 * Whether every topic that want matches is matched by grant, token by token:
 * `>` in grant covers the rest, `*` covers one token or a `*`, and a `>` in
 * want is covered only by a `>`. Both must be valid patterns.
 */
bool sl_auth_pattern_covers(const char *grant, const char *want);

#endif
