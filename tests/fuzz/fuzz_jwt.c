// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * JWTs and the credential front (auth/jwt.c, auth/b64url.c, auth/auth.c):
 * what a client sends in Authorization, X-API-Key, access_token or a
 * publisher's hello. The first input byte picks the credential source and
 * whether the harness signs the token itself with the HS256 issuer's secret,
 * so that the claims checks behind the signature are reached too; the rest
 * is the credential.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "auth/auth.h"
#include "auth/b64url.h"
#include "auth/jwt.h"
#include "config/config.h"
#include "fuzz.h"
#include "route/topic.h"

#define HS_SECRET "fuzz-secret-fuzz-secret-fuzz-secret!"
#define NOW_NS (1767225600ULL * 1000000000ULL) /* 2026-01-01T00:00:00Z */

/* Public halves only, made for this harness. */
static const char rsa_pem[] = "-----BEGIN PUBLIC KEY-----\n"
			      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo0dwnNvF/4nRPG7fpSru\n"
			      "ze2M36jm0/GCirlj6iCcmOh/c7aPhX+37RZA5KRVopqD3Tb73BioN9IZC1Mn7MLQ\n"
			      "py9u+iZpX2uTB0sAjkq/6i2hVp1W+liUuaBeayRFnijTCAnx8ZoMMqBPnYUXRKKE\n"
			      "cLcQXdgDHef9oANjF63Kd7KgYPHE0Vdea1S7MLLuF03VsfnUbFf0afGBVJtCAADI\n"
			      "NGa5WVdfz5nCW1+hE6S4w69/LSfIKu4d1McClkDUwbEIIwVeapFZICl1YoLyqduc\n"
			      "5sllFyvePrT6BI1P3+aLt6yrqk1IAbpYkuNp0XmAZMS5klRlGsWC0r3QEb5Qxo0B\n"
			      "UwIDAQAB\n"
			      "-----END PUBLIC KEY-----\n";
static const char ec_pem[] = "-----BEGIN PUBLIC KEY-----\n"
			     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEl5WbwlvUiiJVZcxU01/CBTnyqt45\n"
			     "jck54XTmohQ2l0oM6PV3X1d69KfrDldu+nPJ+BG8gDtnww8sXyQqEspCGw==\n"
			     "-----END PUBLIC KEY-----\n";

/* The API key "acme-key" is the only one; its SHA-256 is in the config. */
static const char config_yaml[] =
    "applications:\n"
    "  - id: acme\n"
    "    subscribe: [\">\"]\n"
    "    publish: [\"stocks.>\"]\n"
    "    api_keys: [{sha256: afacab3575137afa4e00d9cbcafcb14c9ae25f779d964eb0ea5b2c4eb5dfd163}]\n"
    "  - id: other\n"
    "    subscribe: [\"news.*\"]\n"
    "issuers:\n"
    "  - {name: hs, alg: HS256, secret: \"" HS_SECRET "\", issuer: \"https://hs.example\", "
    "audience: sluice}\n"
    "  - {name: rs, alg: RS256, public_key_file: rsa.pem, issuer: \"https://rs.example\"}\n"
    "  - {name: es, alg: ES256, public_key_file: ec.pem, issuer: \"https://es.example\"}\n";

static char dir[] = "/tmp/sluice-fuzz-jwt-XXXXXX";
static struct sl_config cfg;
static struct sl_auth *auth;
static struct sl_jwt_key *hs_key, *rs_key, *es_key;

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void unput(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sl_diag diag = { 0 };
	char path[128];

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	put("rsa.pem", rsa_pem);
	put("ec.pem", ec_pem);
	put("sluice.yaml", config_yaml);
	snprintf(path, sizeof(path), "%s/sluice.yaml", dir);
	if (sl_config_load(path, &cfg, &diag) || sl_auth_new(&auth, &cfg, &diag) ||
	    sl_auth_issuer_count(auth) != 3) {
		sl_diag_print(&diag, stderr);
		abort();
	}
	sl_diag_free(&diag);
	if (sl_jwt_key_new_hmac(&hs_key, HS_SECRET, strlen(HS_SECRET), NULL) ||
	    sl_jwt_key_new_pem(&rs_key, SL_JWT_RS256, rsa_pem, strlen(rsa_pem), NULL) ||
	    sl_jwt_key_new_pem(&es_key, SL_JWT_ES256, ec_pem, strlen(ec_pem), NULL))
		abort();
	unput("rsa.pem");
	unput("ec.pem");
	unput("sluice.yaml");
	rmdir(dir);
	return 0;
}

/* Replaces the signature part with the HS256 MAC of what precedes it; a new malloc'd token. */
static char *resign(const char *tok, size_t len, size_t *out_len)
{
	const char *dot = memrchr(tok, '.', len);
	uint8_t mac[WC_SHA256_DIGEST_SIZE];
	size_t prefix = dot ? (size_t)(dot - tok) : len;
	char *out = malloc(prefix + 1 + SL_B64URL_ENCODED_LEN(sizeof(mac)) + 1);
	Hmac hmac;
	long n;

	if (!out || wc_HmacInit(&hmac, NULL, INVALID_DEVID) ||
	    wc_HmacSetKey(&hmac, WC_SHA256, (const byte *)HS_SECRET, strlen(HS_SECRET)) ||
	    wc_HmacUpdate(&hmac, (const byte *)tok, (word32)prefix) || wc_HmacFinal(&hmac, mac))
		abort();
	wc_HmacFree(&hmac);
	memcpy(out, tok, prefix);
	out[prefix] = '.';
	n = sl_b64url_encode(mac, sizeof(mac), out + prefix + 1,
			     SL_B64URL_ENCODED_LEN(sizeof(mac)) + 1);
	FUZZ_CHECK(n == (long)SL_B64URL_ENCODED_LEN(sizeof(mac)));
	*out_len = prefix + 1 + (size_t)n;
	return out;
}

static void fuzz_parse(const char *tok, size_t len, bool signed_by_us)
{
	struct sl_jwt jwt;
	const char *why = NULL;
	int ret;

	ret = sl_jwt_parse(tok, len, &jwt, &why);
	if (ret) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(jwt.alg == SL_JWT_HS256 || jwt.alg == SL_JWT_RS256 || jwt.alg == SL_JWT_ES256);
	FUZZ_CHECK(json_is_object(jwt.header) && json_is_object(jwt.claims));
	FUZZ_CHECK(fuzz_within(jwt.signing_input, jwt.signing_input_len, tok, len));
	FUZZ_CHECK(jwt.signing_input == tok && jwt.sig_len <= SL_JWT_MAX_SIG_BYTES);
	/* A key is used only with its own algorithm (RFC 8725 §3.1). */
	ret = sl_jwt_verify(&jwt, hs_key);
	FUZZ_CHECK(jwt.alg == SL_JWT_HS256 ? (ret == 0 || ret == -EBADMSG) : ret == -EPERM);
	if (signed_by_us && jwt.alg == SL_JWT_HS256)
		FUZZ_CHECK(ret == 0);
	ret = sl_jwt_verify(&jwt, jwt.alg == SL_JWT_ES256 ? rs_key : es_key);
	FUZZ_CHECK(ret == -EPERM);
	if (jwt.alg != SL_JWT_HS256) {
		ret = sl_jwt_verify(&jwt, jwt.alg == SL_JWT_RS256 ? rs_key : es_key);
		FUZZ_CHECK(ret == 0 || ret == -EBADMSG);
	}
	sl_jwt_fini(&jwt);
}

static void fuzz_b64url(const char *s, size_t len)
{
	uint8_t *bytes = malloc(SL_B64URL_DECODED_MAX(len));
	char *text = malloc(SL_B64URL_ENCODED_LEN(SL_B64URL_DECODED_MAX(len)) + 1);
	size_t n;

	if (!bytes || !text)
		abort();
	/* Decoding is canonical: what decodes encodes back to the same text. */
	if (sl_b64url_decode(s, len, bytes, SL_B64URL_DECODED_MAX(len), &n) == 0) {
		FUZZ_CHECK(n <= SL_B64URL_DECODED_MAX(len));
		FUZZ_CHECK(sl_b64url_encode(bytes, n, text, SL_B64URL_ENCODED_LEN(n) + 1) ==
			   (long)len);
		FUZZ_CHECK(!memcmp(text, s, len));
	}
	free(bytes);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sl_auth_source sources[] = { SL_AUTH_SOURCE_TOKEN,
						       SL_AUTH_SOURCE_AUTHORIZATION,
						       SL_AUTH_SOURCE_API_KEY,
						       SL_AUTH_SOURCE_TOKEN };
	struct sl_auth_result res;
	enum sl_auth_source source;
	const char *why = NULL;
	char *tok, *signed_tok = NULL;
	size_t len, signed_len = 0;
	int ret;

	if (size < 1)
		return 0;
	source = sources[data[0] & 3];
	len = size - 1;
	tok = malloc(len ? len : 1);
	if (!tok)
		abort();
	memcpy(tok, data + 1, len);
	if (data[0] & 4) {
		signed_tok = resign(tok, len, &signed_len);
		free(tok);
		tok = signed_tok;
		len = signed_len;
	}

	fuzz_parse(tok, len, signed_tok != NULL);
	fuzz_b64url(tok, len);

	ret = sl_auth_check(auth, source, tok, len, NOW_NS, &res, &why);
	FUZZ_CHECK(ret == 0 || ret == -EACCES || ret == -ENOMEM);
	FUZZ_CHECK((ret == 0) == (res.app != NULL) && (ret == 0) == (res.reason == SL_AUTH_OK));
	FUZZ_CHECK(ret == 0 || why != NULL);
	for (uint32_t i = 0; i < res.n_scope; i++)
		FUZZ_CHECK(sl_topic_validate(res.scope[i], strlen(res.scope[i]), true, NULL) == 0);
	if (ret == 0) {
		(void)sl_auth_allows(&res, false, "stocks.nyse.ibm");
		(void)sl_auth_allows(&res, true, "stocks.>");
	}
	sl_auth_result_fini(&res);
	free(tok);
	return 0;
}
