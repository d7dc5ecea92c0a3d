// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Authentication (userspace/auth): strict base64url, API keys, and JWTs made
 * here with wolfSSL: an HMAC secret, and an RSA-2048 and an ECDSA P-256 key
 * generated at start, whose public halves are written as PEM next to the
 * YAML configs that name them. Every refusal is checked by its reason code,
 * since that is what reaches the 401 body and the metrics.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/signature.h>

#include "auth/auth.h"
#include "auth/b64url.h"
#include "auth/hex.h"
#include "auth/jwt.h"
#include "config/config.h"
#include "tap.h"
#include "tmpfiles.h"

#define SEC 1000000000ull
#define NOW_S 1700000000ull /* the tests' wall clock: 2023-11-14 */
#define NOW (NOW_S * SEC)

/* 32 bytes: the shortest HS256 secret accepted (RFC 7518 §3.2). */
#define HS_SECRET "0123456789abcdef0123456789abcdef"

static WC_RNG rng;
static RsaKey rsa, rsa_small;
static ecc_key ec, ec384;
static char rsa_pem[4096], rsa_small_pem[4096], ec_pem[1024], ec384_pem[1024], ec_priv_pem[1024];

/* ---- Keys and tokens ------------------------------------------------------------------------ */

static void die(const char *what, int ret)
{
	fprintf(stderr, "%s failed: %d\n", what, ret);
	exit(2);
}

static void to_pem(const uint8_t *der, int der_len, int type, char *pem, size_t cap)
{
	int n = wc_DerToPem(der, (word32)der_len, (byte *)pem, (word32)cap - 1, type);

	if (n <= 0)
		die("wc_DerToPem", n);
	pem[n] = '\0';
}

static void make_keys(void)
{
	uint8_t der[4096];
	int ret;

	ret = wc_InitRng(&rng);
	if (ret)
		die("wc_InitRng", ret);
	wc_InitRsaKey(&rsa, NULL);
	ret = wc_MakeRsaKey(&rsa, 2048, WC_RSA_EXPONENT, &rng);
	if (ret)
		die("wc_MakeRsaKey 2048", ret);
	ret = wc_RsaKeyToPublicDer(&rsa, der, sizeof(der));
	if (ret <= 0)
		die("wc_RsaKeyToPublicDer", ret);
	to_pem(der, ret, PUBLICKEY_TYPE, rsa_pem, sizeof(rsa_pem));

	wc_InitRsaKey(&rsa_small, NULL);
	ret = wc_MakeRsaKey(&rsa_small, 1024, WC_RSA_EXPONENT, &rng);
	if (ret)
		die("wc_MakeRsaKey 1024", ret);
	ret = wc_RsaKeyToPublicDer(&rsa_small, der, sizeof(der));
	if (ret <= 0)
		die("wc_RsaKeyToPublicDer", ret);
	to_pem(der, ret, PUBLICKEY_TYPE, rsa_small_pem, sizeof(rsa_small_pem));

	wc_ecc_init(&ec);
	ret = wc_ecc_make_key_ex(&rng, 32, &ec, ECC_SECP256R1);
	if (ret)
		die("wc_ecc_make_key_ex P-256", ret);
	ret = wc_EccPublicKeyToDer(&ec, der, sizeof(der), 1);
	if (ret <= 0)
		die("wc_EccPublicKeyToDer", ret);
	to_pem(der, ret, PUBLICKEY_TYPE, ec_pem, sizeof(ec_pem));
	ret = wc_EccKeyToDer(&ec, der, sizeof(der));
	if (ret <= 0)
		die("wc_EccKeyToDer", ret);
	to_pem(der, ret, ECC_PRIVATEKEY_TYPE, ec_priv_pem, sizeof(ec_priv_pem));

	wc_ecc_init(&ec384);
	ret = wc_ecc_make_key_ex(&rng, 48, &ec384, ECC_SECP384R1);
	if (ret)
		die("wc_ecc_make_key_ex P-384", ret);
	ret = wc_EccPublicKeyToDer(&ec384, der, sizeof(der), 1);
	if (ret <= 0)
		die("wc_EccPublicKeyToDer", ret);
	to_pem(der, ret, PUBLICKEY_TYPE, ec384_pem, sizeof(ec384_pem));
}

static void free_keys(void)
{
	wc_FreeRsaKey(&rsa);
	wc_FreeRsaKey(&rsa_small);
	wc_ecc_free(&ec);
	wc_ecc_free(&ec384);
	wc_FreeRng(&rng);
}

/* How a test token is signed. */
enum signer {
	SIGN_HS,       /* HMAC-SHA256 with HS_SECRET */
	SIGN_HS_PEM,   /* HMAC-SHA256 keyed with the RSA public key's PEM text */
	SIGN_RS,       /* RSA-2048 PKCS#1 v1.5 */
	SIGN_RS_SMALL, /* the 1024-bit RSA key */
	SIGN_ES,       /* ECDSA P-256, R || S */
	SIGN_NOTHING,  /* an empty signature */
};

static void hmac(const void *key, size_t key_len, const char *data, size_t len, uint8_t *out)
{
	Hmac h;
	int ret;

	wc_HmacInit(&h, NULL, INVALID_DEVID);
	ret = wc_HmacSetKey(&h, WC_SHA256, key, (word32)key_len);
	if (!ret)
		ret = wc_HmacUpdate(&h, (const byte *)data, (word32)len);
	if (!ret)
		ret = wc_HmacFinal(&h, out);
	wc_HmacFree(&h);
	if (ret)
		die("hmac", ret);
}

/* Signs "HEADER.PAYLOAD" in input[0..len) into sig; returns its length. */
static size_t sign(enum signer how, const char *input, size_t len, uint8_t *sig)
{
	uint8_t der[128], r[48], s[48];
	word32 sig_len = 512, der_len = sizeof(der), r_len = sizeof(r), s_len = sizeof(s);
	int ret;

	switch (how) {
	case SIGN_HS:
		hmac(HS_SECRET, strlen(HS_SECRET), input, len, sig);
		return 32;
	case SIGN_HS_PEM:
		hmac(rsa_pem, strlen(rsa_pem), input, len, sig);
		return 32;
	case SIGN_RS:
	case SIGN_RS_SMALL:
		/* wc_SignatureGenerate builds the DigestInfo itself: a path independent of jwt.c.
		 */
		ret = wc_SignatureGenerate(WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_RSA_W_ENC,
					   (const byte *)input, (word32)len, sig, &sig_len,
					   how == SIGN_RS ? &rsa : &rsa_small, sizeof(rsa), &rng);
		if (ret)
			die("RSA sign", ret);
		return sig_len;
	case SIGN_ES:
		ret = wc_SignatureGenerate(WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_ECC,
					   (const byte *)input, (word32)len, der, &der_len, &ec,
					   sizeof(ec), &rng);
		if (ret)
			die("ECDSA sign", ret);
		ret = wc_ecc_sig_to_rs(der, der_len, r, &r_len, s, &s_len);
		if (ret || r_len > 32 || s_len > 32)
			die("wc_ecc_sig_to_rs", ret);
		/* RFC 7518 §3.4: each integer left-padded to 32 bytes. */
		memset(sig, 0, 64);
		memcpy(sig + 32 - r_len, r, r_len);
		memcpy(sig + 64 - s_len, s, s_len);
		return 64;
	case SIGN_NOTHING:
		break;
	}
	return 0;
}

static char *b64(const void *data, size_t len)
{
	size_t cap = SL_B64URL_ENCODED_LEN(len) + 1;
	char *out = malloc(cap);

	if (!out || sl_b64url_encode(data, len, out, cap) < 0)
		die("encode", -ENOMEM);
	return out;
}

/* A signed compact JWS of these header and claims (JSON texts, used as they are). */
static char *make(enum signer how, const char *header, const char *claims)
{
	char *h = b64(header, strlen(header)), *p = b64(claims, strlen(claims)), *input, *sig, *tok;
	uint8_t raw[512];
	size_t n;

	if (asprintf(&input, "%s.%s", h, p) < 0)
		die("asprintf", -ENOMEM);
	n = sign(how, input, strlen(input), raw);
	sig = b64(raw, n);
	if (asprintf(&tok, "%s.%s", input, sig) < 0)
		die("asprintf", -ENOMEM);
	free(h);
	free(p);
	free(input);
	free(sig);
	return tok;
}

static const char *alg_header(enum signer how)
{
	switch (how) {
	case SIGN_RS:
	case SIGN_RS_SMALL:
		return "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	case SIGN_ES:
		return "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	default:
		return "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	}
}

/* A claims set from a printf format (times are passed as NOW_S-relative numbers). */
static char *claims(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *claims(const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vasprintf", -ENOMEM);
	return s;
}

/* The usual good claims for an issuer: iss, aud sluice, sub acme, exp in an hour. */
static char *good_claims(const char *iss)
{
	return claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"sub\":\"acme\",\"exp\":%llu,"
		      "\"iat\":%llu}",
		      iss, NOW_S + 3600, NOW_S);
}

/* make() freeing the claims. */
static char *make_with(enum signer how, const char *header, char *c)
{
	char *t = make(how, header, c);

	free(c);
	return t;
}

/* make() with the signer's own header, freeing the claims. */
static char *token(enum signer how, char *c)
{
	char *t = make(how, alg_header(how), c);

	free(c);
	return t;
}

/* ---- Checking ------------------------------------------------------------------------------- */

static enum sl_auth_reason check_src(struct sl_auth *auth, enum sl_auth_source src,
				     const char *value, uint64_t now, struct sl_auth_result *res,
				     const char **why)
{
	int ret;

	*why = "";
	ret = sl_auth_check(auth, src, value, value ? strlen(value) : 0, now, res, why);
	if ((ret == 0) != (res->reason == SL_AUTH_OK) || (ret == 0) != (res->app != NULL))
		return SL_AUTH_REASON_COUNT; /* inconsistent: fails any expectation */
	return res->reason;
}

/* Checks tok (a token, freed here) as an access_token value, expecting reason. */
#define EXPECT_AT(auth, now, tok, want, ...)                                                       \
	do {                                                                                       \
		struct sl_auth_result res_;                                                        \
		const char *why_;                                                                  \
		char *tok_ = (tok);                                                                \
		enum sl_auth_reason got_ =                                                         \
		    check_src(auth, SL_AUTH_SOURCE_TOKEN, tok_, now, &res_, &why_);                \
		TAP_OK(got_ == (want), __VA_ARGS__);                                               \
		if (got_ != (want))                                                                \
			printf("#   got %s (%s), wanted %s\n", sl_auth_reason_name(got_), why_,    \
			       sl_auth_reason_name(want));                                         \
		sl_auth_result_fini(&res_);                                                        \
		free(tok_);                                                                        \
	} while (0)

#define EXPECT(auth, tok, want, ...) EXPECT_AT(auth, NOW, tok, want, __VA_ARGS__)

struct setup {
	struct sl_config cfg;
	struct sl_diag diag;
	struct sl_auth *auth;
	const char *path;
	int err; /* sl_config_load's, then sl_auth_new's */
};

static void setup(struct setup *s, const char *name, const char *yaml)
{
	memset(s, 0, sizeof(*s));
	s->path = put(name, yaml);
	s->err = sl_config_load(s->path, &s->cfg, &s->diag);
	if (s->err) {
		sl_diag_print(&s->diag, stdout);
		return;
	}
	s->err = sl_auth_new(&s->auth, &s->cfg, &s->diag);
}

static void teardown(struct setup *s)
{
	sl_auth_free(s->auth);
	sl_diag_free(&s->diag);
	sl_config_free(&s->cfg);
}

static void sha256_hex(const char *key, char *hex)
{
	uint8_t d[32];
	int i;

	wc_Sha256Hash((const byte *)key, (word32)strlen(key), d);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
}

/* ---- base64url ------------------------------------------------------------------------------ */

static bool decodes_to(const char *in, const char *want)
{
	uint8_t out[64];
	size_t n = 99;

	return sl_b64url_decode(in, strlen(in), out, sizeof(out), &n) == 0 && n == strlen(want) &&
	       !memcmp(out, want, n);
}

static int decode_err(const char *in)
{
	uint8_t out[64];
	size_t n;

	return sl_b64url_decode(in, strlen(in), out, sizeof(out), &n);
}

static void test_b64url(void)
{
	/* RFC 4648 §10 test vectors, without their padding (RFC 7515 §2). */
	static const char *const vec[][2] = { { "", "" },
					      { "f", "Zg" },
					      { "fo", "Zm8" },
					      { "foo", "Zm9v" },
					      { "foob", "Zm9vYg" },
					      { "fooba", "Zm9vYmE" },
					      { "foobar", "Zm9vYmFy" } };
	char enc[32];
	uint8_t small[2], bytes[2];
	size_t i, n;
	bool ok = true;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		ok &= sl_b64url_encode(vec[i][0], strlen(vec[i][0]), enc, sizeof(enc)) ==
			  (long)strlen(vec[i][1]) &&
		      !strcmp(enc, vec[i][1]);
		ok &= decodes_to(vec[i][1], vec[i][0]);
	}
	TAP_OK(ok, "base64url: the RFC 4648 §10 vectors encode and decode");
	TAP_OK(sl_b64url_decode("-_8", 3, bytes, sizeof(bytes), &n) == 0 && n == 2 &&
		   bytes[0] == 0xfb && bytes[1] == 0xff,
	       "base64url: '-' and '_' are 62 and 63 (the URL-safe alphabet)");
	TAP_OK(decode_err("Zg==") == -EINVAL, "base64url: padding is refused (RFC 7515 §2)");
	TAP_OK(decode_err("Zm9v+A") == -EINVAL && decode_err("Zm9v/A") == -EINVAL,
	       "base64url: '+' and '/' of plain base64 are refused");
	TAP_OK(decode_err("Zm 9v") == -EINVAL && decode_err("Zm9v\n") == -EINVAL,
	       "base64url: whitespace is refused");
	TAP_OK(decode_err("Zm9vY") == -EINVAL, "base64url: a lone last character is refused");
	TAP_OK(decode_err("Zh") == -EINVAL && decode_err("Zm9") == -EINVAL &&
		   decodes_to("Zg", "f") && decodes_to("Zm8", "fo"),
	       "base64url: non-zero pad bits are refused (RFC 4648 §3.5: one text per value)");
	TAP_OK(sl_b64url_decode("Zm9vYg", 6, small, sizeof(small), &n) == -ENOBUFS,
	       "base64url: an output too small is -ENOBUFS");
	TAP_OK(sl_b64url_encode("foo", 3, enc, 4) == -ENOBUFS,
	       "base64url: encoding leaves room for the NUL or fails");
}

static void test_hex(void)
{
	uint8_t out[4] = { 0 };

	TAP_OK(sl_hex_decode("00ff7Fa0", 4, out) == 0 && out[0] == 0x00 && out[1] == 0xff &&
		   out[2] == 0x7f && out[3] == 0xa0,
	       "hex: digits of either case decode to bytes");
	TAP_OK(sl_hex_decode("0g", 1, out) == -EINVAL && sl_hex_decode("g0", 1, out) == -EINVAL &&
		   sl_hex_decode("-1", 1, out) == -EINVAL && sl_hex_decode(" 1", 1, out) == -EINVAL,
	       "hex: a character that is not a hex digit is -EINVAL, in either place");
	TAP_OK(sl_hex_decode("a", 1, out) == -EINVAL && sl_hex_decode("", 1, out) == -EINVAL,
	       "hex: text that ends early is -EINVAL, nothing read past its NUL");
	TAP_OK(sl_hex_decode("zz", 0, out) == 0, "hex: zero bytes read nothing");
}

/* ---- The main configuration ----------------------------------------------------------------- */

static struct setup main_setup;

static void main_config(void)
{
	char hex1[65], hex2[65], hex3[65], hex4[65], *yaml;

	put_dir("keys");
	put("keys/rsa.pem", rsa_pem);
	put("keys/ec.pem", ec_pem);
	put("hs.secret", HS_SECRET "\n");
	sha256_hex("acme-key-1", hex1);
	sha256_hex("other-key-1", hex2);
	sha256_hex("other-key-2", hex3);
	sha256_hex("last-key", hex4);
	if (asprintf(&yaml,
		     "jwt: {leeway: 30s}\n"
		     "applications:\n"
		     "  - id: acme\n"
		     "    subscribe: [\"stocks.>\", \"trains.*.status\"]\n"
		     "    publish: [\"stocks.nyse.*\"]\n"
		     "    api_keys: [{sha256: %s}]\n"
		     "  - id: other\n"
		     "    subscribe: [\">\"]\n"
		     "    api_keys: [{sha256: %s}, {sha256: %s}]\n"
		     "  - id: last\n"
		     "    api_keys: [{sha256: %s}]\n"
		     "issuers:\n"
		     "  - name: hs\n"
		     "    alg: HS256\n"
		     "    secret_file: hs.secret\n"
		     "    issuer: https://hs.example\n"
		     "    audience: sluice\n"
		     "  - name: rs\n"
		     "    alg: RS256\n"
		     "    public_key_file: keys/rsa.pem\n"
		     "    issuer: https://rs.example\n"
		     "    audience: sluice\n"
		     "  - name: es\n"
		     "    alg: ES256\n"
		     "    public_key_file: keys/ec.pem\n",
		     hex1, hex2, hex3, hex4) < 0)
		die("asprintf", -ENOMEM);
	setup(&main_setup, "main.yaml", yaml);
	free(yaml);
	sl_diag_print(&main_setup.diag, stdout);
	TAP_OK(main_setup.err == 0 && main_setup.auth && sl_diag_count(&main_setup.diag) == 0,
	       "a config with HS256 (secret_file), RS256 and ES256 issuers loads (err %d)",
	       main_setup.err);
	if (!main_setup.auth) {
		cleanup();
		exit(tap_done());
	}
	TAP_OK(sl_auth_issuer_count(main_setup.auth) == 3, "three issuers loaded");
}

static void test_valid(struct sl_auth *auth)
{
	struct sl_auth_result res;
	const char *why;
	char *tok, *hdr;

	tok = token(SIGN_HS, good_claims("https://hs.example"));
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why) == SL_AUTH_OK &&
		   res.method == SL_AUTH_METHOD_JWT && !strcmp(res.app->id, "acme") &&
		   !strcmp(res.issuer, "hs") && res.expires_ns == (NOW_S + 3600) * SEC &&
		   !res.scoped,
	       "HS256: a valid token names its application, issuer and expiry (%s)", why);
	sl_auth_result_fini(&res);

	/* Authorization: the scheme is case-insensitive and may be followed by several blanks. */
	if (asprintf(&hdr, "bearer   %s", tok) < 0)
		die("asprintf", -ENOMEM);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, hdr, NOW, &res, &why) == SL_AUTH_OK,
	       "Authorization: bearer (any case) with extra blanks is accepted (%s)", why);
	sl_auth_result_fini(&res);
	free(hdr);
	free(tok);

	EXPECT(auth, token(SIGN_RS, good_claims("https://rs.example")), SL_AUTH_OK,
	       "RS256: a valid token is accepted");
	EXPECT(auth, token(SIGN_ES, good_claims("es")), SL_AUTH_OK,
	       "ES256: a valid token is accepted (issuer picked by name)");
	EXPECT(auth,
	       make_with(SIGN_ES, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
			 good_claims("es")),
	       SL_AUTH_OK, "typ at+jwt (RFC 9068) and a kid are accepted");
	EXPECT(auth, make_with(SIGN_ES, "{\"alg\":\"ES256\"}", good_claims("es")), SL_AUTH_OK,
	       "typ is optional");
	EXPECT(
	    auth,
	    token(SIGN_ES, claims("{\"iss\":\"es\",\"sub\":\"acme\",\"exp\":%llu.5}", NOW_S + 10)),
	    SL_AUTH_OK,
	    "exp may be a fractional NumericDate, and aud is optional without audience");
}

static void test_times(struct sl_auth *auth)
{
	const char *c = "{\"iss\":\"https://hs.example\",\"aud\":\"sluice\",\"sub\":\"acme\","
			"\"exp\":%llu}";

	EXPECT(auth, token(SIGN_HS, claims(c, NOW_S - 31)), SL_AUTH_EXPIRED,
	       "exp 31 s ago with 30 s leeway: expired");
	EXPECT(auth, token(SIGN_HS, claims(c, NOW_S - 30)), SL_AUTH_EXPIRED,
	       "exp exactly leeway ago: expired (now must be before exp, RFC 7519 §4.1.4)");
	EXPECT(auth, token(SIGN_HS, claims(c, NOW_S - 29)), SL_AUTH_OK,
	       "exp 29 s ago: still inside the leeway");
	EXPECT_AT(auth, NOW + 3 * 3600 * SEC, token(SIGN_HS, good_claims("https://hs.example")),
		  SL_AUTH_EXPIRED, "a good token checked later than its exp is expired");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":%llu,\"nbf\":%llu}",
				     NOW_S + 3600, NOW_S + 60)),
	       SL_AUTH_NOT_YET_VALID, "nbf a minute ahead: not yet valid");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":%llu,\"nbf\":%llu}",
				     NOW_S + 3600, NOW_S + 20)),
	       SL_AUTH_OK, "nbf 20 s ahead: inside the leeway");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\"}")),
	       SL_AUTH_MISSING_CLAIM,
	       "no exp: refused (tokens that never expire are not accepted)");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":\"%llu\"}",
				     NOW_S + 60)),
	       SL_AUTH_MALFORMED, "exp as a string: malformed");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":-5}")),
	       SL_AUTH_MALFORMED, "a negative exp: malformed");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":99999999999999}")),
	       SL_AUTH_OK, "an exp far in the future saturates instead of wrapping");
}

static void test_claims(struct sl_auth *auth)
{
	const char *hs = "https://hs.example";

	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":\"other\",\"sub\":\"acme\","
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_WRONG_AUDIENCE, "aud naming another service: wrong audience");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":[\"a\",\"sluice\"],\"sub\":\"acme\","
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_OK, "aud as an array holding sluice: accepted (RFC 7519 §4.1.3)");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":[\"a\",\"b\"],\"sub\":\"acme\","
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_WRONG_AUDIENCE, "aud as an array without sluice: wrong audience");
	EXPECT(auth,
	       token(SIGN_HS,
		     claims("{\"iss\":\"%s\",\"sub\":\"acme\",\"exp\":%llu}", hs, NOW_S + 60)),
	       SL_AUTH_WRONG_AUDIENCE, "no aud where an audience is configured: wrong audience");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":[\"sluice\",7],\"sub\":\"acme\","
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_MALFORMED, "aud holding a number: malformed");

	EXPECT(auth, token(SIGN_HS, good_claims("https://evil.example")), SL_AUTH_UNKNOWN_ISSUER,
	       "iss naming no issuer (three configured): unknown issuer");
	EXPECT(auth,
	       token(SIGN_HS,
		     claims("{\"aud\":\"sluice\",\"sub\":\"acme\",\"exp\":%llu}", NOW_S + 60)),
	       SL_AUTH_UNKNOWN_ISSUER, "no iss with three issuers configured: unknown issuer");
	EXPECT(auth, token(SIGN_HS, good_claims("hs")), SL_AUTH_WRONG_ISSUER,
	       "iss equal to the issuer's name where an issuer value is configured: wrong issuer");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":5,\"aud\":\"sluice\",\"sub\":\"acme\",\"exp\":%llu}",
				     NOW_S + 60)),
	       SL_AUTH_MALFORMED, "iss as a number: malformed");

	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"sub\":\"nobody\","
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_UNKNOWN_APPLICATION, "sub naming no application: unknown application");
	EXPECT(auth,
	       token(SIGN_HS,
		     claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"exp\":%llu}", hs, NOW_S + 60)),
	       SL_AUTH_MISSING_CLAIM, "no sub: missing claim");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"sub\":[\"acme\"],"
				     "\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_MALFORMED, "sub as an array: malformed");
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"sub\":\"acme\","
				     "\"sub\":\"other\",\"exp\":%llu}",
				     hs, NOW_S + 60)),
	       SL_AUTH_MALFORMED, "a duplicate claim (two subs): malformed, not last-wins");
}

static void test_algorithms(struct sl_auth *auth)
{
	char *c;

	EXPECT(auth,
	       make_with(SIGN_NOTHING, "{\"alg\":\"none\",\"typ\":\"JWT\"}",
			 good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "alg none with an empty signature: refused");
	EXPECT(auth, make_with(SIGN_HS, "{\"alg\":\"none\"}", good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "alg none with a signature: refused");
	EXPECT(auth, make_with(SIGN_HS, "{\"alg\":\"NoNe\"}", good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "alg NoNe: refused");
	EXPECT(auth, make_with(SIGN_HS, "{\"alg\":\"HS512\"}", good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "alg HS512: refused (only HS256, RS256, ES256)");
	EXPECT(auth, make_with(SIGN_HS, "{\"alg\":\"hs256\"}", good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "alg names are case-sensitive (RFC 7515 §4.1.1)");
	EXPECT(auth, make_with(SIGN_HS, "{\"typ\":\"JWT\"}", good_claims("https://hs.example")),
	       SL_AUTH_MALFORMED, "no alg: malformed");

	/*
	 * Algorithm confusion: an HS256 token for the RS256 issuer, MACed with
	 * the issuer's public key (which anyone can read) as the secret.
	 */
	EXPECT(auth, token(SIGN_HS_PEM, good_claims("https://rs.example")), SL_AUTH_ALG_NOT_ALLOWED,
	       "HS256 for an RS256 issuer, keyed with its public key PEM: refused");
	EXPECT(auth, make_with(SIGN_ES, alg_header(SIGN_ES), good_claims("https://rs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "ES256 for an RS256 issuer: refused");
	EXPECT(auth, make_with(SIGN_RS, alg_header(SIGN_RS), good_claims("https://hs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED, "RS256 for an HS256 issuer: refused");

	c = good_claims("https://rs.example");
	EXPECT(auth, make(SIGN_RS_SMALL, alg_header(SIGN_RS), c), SL_AUTH_BAD_SIGNATURE,
	       "RS256 signed by another key: bad signature");
	free(c);
	c = good_claims("https://hs.example");
	EXPECT(auth, make(SIGN_HS, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", c),
	       SL_AUTH_MALFORMED, "a crit header: refused (no extension is understood)");
	EXPECT(auth, make(SIGN_HS, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", c), SL_AUTH_MALFORMED,
	       "typ other than JWT: refused (RFC 8725 §3.11)");
	EXPECT(auth, make(SIGN_HS, "{\"alg\":\"HS256\",\"cty\":\"JWT\"}", c), SL_AUTH_MALFORMED,
	       "a nested token (cty JWT): refused");
	EXPECT(auth, make(SIGN_HS, "{\"alg\":\"HS256\",\"kid\":7}", c), SL_AUTH_MALFORMED,
	       "a kid that is not a string: malformed");
	EXPECT(auth, make(SIGN_HS, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", c), SL_AUTH_MALFORMED,
	       "a duplicate header member: malformed");
	EXPECT(auth, make(SIGN_HS, "[\"HS256\"]", c), SL_AUTH_MALFORMED,
	       "a header that is not an object: malformed");
	EXPECT(auth, make(SIGN_HS, alg_header(SIGN_HS), "[1,2]"), SL_AUTH_MALFORMED,
	       "claims that are not an object: malformed");
	free(c);
}

/* Replaces part (0 header, 1 payload, 2 signature) of tok with text; frees tok. */
static char *splice(char *tok, int part, const char *text)
{
	char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.'), *out;
	int n;

	if (part == 0)
		n = asprintf(&out, "%s%s", text, d1);
	else if (part == 1)
		n = asprintf(&out, "%.*s.%s%s", (int)(d1 - tok), tok, text, d2);
	else
		n = asprintf(&out, "%.*s.%s", (int)(d2 - tok), tok, text);
	if (n < 0)
		die("asprintf", -ENOMEM);
	free(tok);
	return out;
}

static void test_tampering(struct sl_auth *auth)
{
	static const enum signer signers[] = { SIGN_HS, SIGN_RS, SIGN_ES };
	static const char *const iss[] = { "https://hs.example", "https://rs.example", "es" };
	char *c, *p, *tok, *sig;
	uint8_t raw[SL_JWT_MAX_SIG_BYTES];
	size_t i, len;

	for (i = 0; i < 3; i++) {
		/* The same claims with sub changed: a privilege escalation if it verified. */
		c = claims("{\"iss\":\"%s\",\"aud\":\"sluice\",\"sub\":\"other\",\"exp\":%llu}",
			   iss[i], NOW_S + 3600);
		p = b64(c, strlen(c));
		EXPECT(auth, splice(token(signers[i], good_claims(iss[i])), 1, p),
		       SL_AUTH_BAD_SIGNATURE, "%s: a tampered payload fails verification",
		       sl_jwt_alg_name((enum sl_jwt_alg)(i + 1)));
		free(p);
		free(c);

		/* One flipped bit in the middle of the signature. */
		tok = token(signers[i], good_claims(iss[i]));
		sig = strrchr(tok, '.') + 1;
		len = strlen(sig);
		sig[len / 2] = sig[len / 2] == 'A' ? 'B' : 'A';
		EXPECT(auth, tok, SL_AUTH_BAD_SIGNATURE, "%s: a changed signature fails",
		       sl_jwt_alg_name((enum sl_jwt_alg)(i + 1)));

		/* A signature one byte short, canonically encoded. */
		tok = token(signers[i], good_claims(iss[i]));
		sig = strrchr(tok, '.') + 1;
		if (sl_b64url_decode(sig, strlen(sig), raw, sizeof(raw), &len))
			die("decode", -EINVAL);
		p = b64(raw, len - 1);
		EXPECT(auth, splice(tok, 2, p), SL_AUTH_BAD_SIGNATURE,
		       "%s: a signature one byte short fails on its length",
		       sl_jwt_alg_name((enum sl_jwt_alg)(i + 1)));
		free(p);
	}

	/* ES256 R = S = 0 is outside [1, n-1]. */
	sig = b64("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
		  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
		  64);
	EXPECT(auth, splice(token(SIGN_ES, good_claims("es")), 2, sig), SL_AUTH_BAD_SIGNATURE,
	       "ES256: an all-zero signature fails");
	free(sig);
	EXPECT(auth, splice(token(SIGN_ES, good_claims("es")), 2, ""), SL_AUTH_MALFORMED,
	       "an empty signature: malformed");
}

static void test_encoding(struct sl_auth *auth)
{
	char *tok, *sig, *big, *deep;
	size_t len, i;
	const char *why;
	struct sl_auth_result res;

	/*
	 * An HS256 signature is 32 bytes, 43 characters: the last one carries 2
	 * unused bits. Setting them keeps the decoded bytes the same, and must
	 * still be refused.
	 */
	tok = token(SIGN_HS, good_claims("https://hs.example"));
	sig = strrchr(tok, '.') + 1;
	len = strlen(sig);
	TAP_OK(len == 43, "an HS256 signature is 43 base64url characters");
	sig[len - 1] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	    [(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		     sig[len - 1]) -
	      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") |
	     1];
	EXPECT(auth, tok, SL_AUTH_MALFORMED,
	       "a signature with non-zero pad bits: malformed, although it decodes the same");

	tok = token(SIGN_HS, good_claims("https://hs.example"));
	tok[3] = '+';
	EXPECT(auth, tok, SL_AUTH_MALFORMED, "'+' in the header: malformed");
	tok = token(SIGN_HS, good_claims("https://hs.example"));
	sig = strchr(tok, '.');
	if (asprintf(&big, "%.*s=%s", (int)(sig - tok), tok, sig) < 0)
		die("asprintf", -ENOMEM);
	free(tok);
	EXPECT(auth, big, SL_AUTH_MALFORMED, "padding in the header: malformed");
	EXPECT(auth, strdup("abc.def"), SL_AUTH_UNKNOWN_KEY,
	       "one dot as access_token: read as an API key");
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "Bearer abc.def", NOW, &res, &why) ==
		   SL_AUTH_MALFORMED,
	       "Bearer with two parts: malformed (%s)", why);
	sl_auth_result_fini(&res);
	tok = token(SIGN_HS, good_claims("https://hs.example"));
	if (asprintf(&big, "%s.e30.e30", tok) < 0)
		die("asprintf", -ENOMEM);
	free(tok);
	if (asprintf(&tok, "Bearer %s", big) < 0)
		die("asprintf", -ENOMEM);
	free(big);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, tok, NOW, &res, &why) ==
		   SL_AUTH_MALFORMED,
	       "five parts (a JWE): malformed (%s)", why);
	sl_auth_result_fini(&res);
	free(tok);

	/* Bounds. */
	big = malloc(SL_JWT_MAX_TOKEN_BYTES + 100);
	memset(big, 'A', SL_JWT_MAX_TOKEN_BYTES + 99);
	big[SL_JWT_MAX_TOKEN_BYTES + 99] = '\0';
	big[100] = '.';
	big[200] = '.';
	EXPECT(auth, big, SL_AUTH_TOO_LARGE, "a token over 8 KiB: too large");

	big = malloc(1600);
	memset(big, 'k', 1599);
	big[1599] = '\0';
	if (asprintf(&tok, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", big) < 0)
		die("asprintf", -ENOMEM);
	free(big);
	big = good_claims("https://hs.example");
	EXPECT(auth, make(SIGN_HS, tok, big), SL_AUTH_TOO_LARGE,
	       "a header over 1 KiB decoded: too large");
	free(tok);
	free(big);

	deep = malloc(64);
	for (i = 0; i < 20; i++)
		deep[i] = '[';
	for (; i < 40; i++)
		deep[i] = ']';
	deep[40] = '\0';
	big = claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\",\"sub\":\"acme\","
		     "\"exp\":%llu,\"x\":%s}",
		     NOW_S + 60, deep);
	EXPECT(auth, token(SIGN_HS, big), SL_AUTH_TOO_LARGE, "claims nested 21 deep: too large");
	big = claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\",\"sub\":\"acme\","
		     "\"exp\":%llu,\"x\":\"%s\"}",
		     NOW_S + 60, deep);
	EXPECT(auth, token(SIGN_HS, big), SL_AUTH_OK, "brackets inside a string are not nesting");
	free(deep);
}

static bool allows(const struct sl_auth_result *res, bool publish, const char *t)
{
	return sl_auth_allows(res, publish, t);
}

static void test_scope(struct sl_auth *auth)
{
	struct sl_auth_result res;
	const char *why, *c;
	char *tok, *many;
	size_t i;

	/* acme: subscribe stocks.> and trains.*.status; publish stocks.nyse.* */
	tok = token(SIGN_HS, good_claims("https://hs.example"));
	check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why);
	free(tok);
	TAP_OK(res.app && allows(&res, false, "stocks.nyse.ibm") &&
		   allows(&res, false, "stocks.>") && allows(&res, false, "stocks.*") &&
		   allows(&res, false, "trains.7.status") && allows(&res, false, "trains.*.status"),
	       "no scope: the application's subscribe patterns apply");
	TAP_OK(!allows(&res, false, ">") && !allows(&res, false, "trains.>") &&
		   !allows(&res, false, "trains.*.*") && !allows(&res, false, "stocks") &&
		   !allows(&res, false, "weather.x"),
	       "no scope: patterns wider than the application's are refused");
	TAP_OK(allows(&res, true, "stocks.nyse.ibm") && !allows(&res, true, "stocks.lse.ibm") &&
		   !allows(&res, true, "stocks.nyse.*") && !allows(&res, true, "trains.1.status"),
	       "publish: only topics the application may publish, never a wildcard");
	TAP_OK(!allows(&res, false, "stocks..x") && !allows(&res, false, "a.>.b") &&
		   !allows(NULL, false, "stocks.x"),
	       "invalid patterns and a NULL result allow nothing");
	sl_auth_result_fini(&res);

	c = "{\"iss\":\"https://hs.example\",\"aud\":\"sluice\",\"sub\":\"acme\",\"exp\":%llu,"
	    "\"scope\":\"%s\"}";
	tok = token(SIGN_HS, claims(c, NOW_S + 60, "stocks.nyse.> trains.*.status"));
	check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why);
	free(tok);
	TAP_OK(res.app && res.scoped && res.n_scope == 2 &&
		   allows(&res, false, "stocks.nyse.ibm") && allows(&res, false, "stocks.nyse.>") &&
		   allows(&res, false, "trains.1.status"),
	       "scope: topics both the application and the scope cover are allowed");
	TAP_OK(!allows(&res, false, "stocks.lse.ibm") && !allows(&res, false, "stocks.>") &&
		   !allows(&res, false, "stocks.*.ibm"),
	       "scope: what the application allows but the scope does not is refused");
	TAP_OK(allows(&res, true, "stocks.nyse.ibm") && !allows(&res, true, "stocks.lse.ibm"),
	       "scope narrows publishing the same way");
	sl_auth_result_fini(&res);

	tok = token(SIGN_HS, claims(c, NOW_S + 60, "> weather.>"));
	check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why);
	free(tok);
	TAP_OK(res.app && allows(&res, false, "stocks.x") && !allows(&res, false, "weather.x") &&
		   !allows(&res, false, ">") && !allows(&res, true, "stocks.lse.x"),
	       "a scope wider than the application never widens it");
	sl_auth_result_fini(&res);

	tok = token(SIGN_HS, claims(c, NOW_S + 60, ""));
	check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why);
	free(tok);
	TAP_OK(res.app && res.scoped && res.n_scope == 0 && !allows(&res, false, "stocks.x"),
	       "an empty scope allows nothing");
	sl_auth_result_fini(&res);

	tok = token(SIGN_HS, claims(c, NOW_S + 60, "  openid read:stocks  stocks.nyse.ibm "));
	check_src(auth, SL_AUTH_SOURCE_TOKEN, tok, NOW, &res, &why);
	free(tok);
	TAP_OK(res.app && res.n_scope == 2 && !strcmp(res.scope[0], "openid") &&
		   !strcmp(res.scope[1], "stocks.nyse.ibm") &&
		   allows(&res, false, "stocks.nyse.ibm") &&
		   !allows(&res, false, "stocks.nyse.aapl"),
	       "scope entries that are not topic patterns are dropped; extra blanks are fine");
	sl_auth_result_fini(&res);

	many = malloc(257 * 2 + 1);
	for (i = 0; i < 257; i++) {
		many[2 * i] = 'a';
		many[2 * i + 1] = ' ';
	}
	many[2 * 257] = '\0';
	EXPECT(auth, token(SIGN_HS, claims(c, NOW_S + 60, many)), SL_AUTH_TOO_LARGE,
	       "a scope of 257 entries: too large");
	free(many);
	EXPECT(auth,
	       token(SIGN_HS, claims("{\"iss\":\"https://hs.example\",\"aud\":\"sluice\","
				     "\"sub\":\"acme\",\"exp\":%llu,\"scope\":[\"stocks.>\"]}",
				     NOW_S + 60)),
	       SL_AUTH_MALFORMED, "a scope that is an array: malformed");

	TAP_OK(
	    sl_auth_pattern_covers("a.*.c", "a.b.c") && sl_auth_pattern_covers("a.*.c", "a.*.c") &&
		!sl_auth_pattern_covers("a.*.c", "a.>") && sl_auth_pattern_covers("a.>", "a.b.>") &&
		!sl_auth_pattern_covers("a.>", "a") && !sl_auth_pattern_covers("a.b", "a.b.c") &&
		!sl_auth_pattern_covers("a.b.c", "a.b") && sl_auth_pattern_covers(">", ">") &&
		!sl_auth_pattern_covers("*", ">") && !sl_auth_pattern_covers("ab", "a"),
	    "pattern coverage token by token");
}

static void test_api_keys(struct setup *s)
{
	struct sl_auth *auth = s->auth;
	struct sl_auth_result res;
	const char *why;
	char *long_key;

	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, "acme-key-1", NOW, &res, &why) ==
		       SL_AUTH_OK &&
		   res.method == SL_AUTH_METHOD_API_KEY && !strcmp(res.app->id, "acme") &&
		   !res.issuer && res.expires_ns == 0 && !res.scoped,
	       "X-API-Key: a known key names its application");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, "other-key-2", NOW, &res, &why) ==
		       SL_AUTH_OK &&
		   sl_auth_still_names(auth, &res, sl_config_app_find(&s->cfg, "other")) &&
		   !sl_auth_still_names(auth, &res, sl_config_app_find(&s->cfg, "acme")),
	       "sl_auth_still_names: a key is still its application's, and not another's");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "ApiKey other-key-2", NOW, &res,
			 &why) == SL_AUTH_OK &&
		   !strcmp(res.app->id, "other"),
	       "Authorization: ApiKey with an application's second key");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "APIKEY\tlast-key", NOW, &res, &why) ==
		       SL_AUTH_OK &&
		   !strcmp(res.app->id, "last"),
	       "the ApiKey scheme is case-insensitive; a tab separates too");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_TOKEN, "other-key-1", NOW, &res, &why) ==
		       SL_AUTH_OK &&
		   !strcmp(res.app->id, "other"),
	       "access_token without two dots is read as an API key");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, "acme-key-2", NOW, &res, &why) ==
		   SL_AUTH_UNKNOWN_KEY,
	       "an unknown key: unknown key (%s)", why);
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, "acme-key-1 ", NOW, &res, &why) ==
		   SL_AUTH_UNKNOWN_KEY,
	       "a key with one more byte is a different key");
	sl_auth_result_fini(&res);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, "", NOW, &res, &why) == SL_AUTH_MISSING &&
		   check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, NULL, NOW, &res, &why) ==
		       SL_AUTH_MISSING,
	       "an empty or absent credential: missing");
	sl_auth_result_fini(&res);
	long_key = malloc(SL_AUTH_MAX_KEY_BYTES + 2);
	memset(long_key, 'k', SL_AUTH_MAX_KEY_BYTES + 1);
	long_key[SL_AUTH_MAX_KEY_BYTES + 1] = '\0';
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_API_KEY, long_key, NOW, &res, &why) ==
		   SL_AUTH_TOO_LARGE,
	       "a key over 1024 bytes: too large");
	sl_auth_result_fini(&res);
	free(long_key);
	TAP_OK(check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "Basic dXNlcjpwYXNz", NOW, &res,
			 &why) == SL_AUTH_MALFORMED &&
		   check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "ApiKey", NOW, &res, &why) ==
		       SL_AUTH_MALFORMED &&
		   check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "Bearer   ", NOW, &res, &why) ==
		       SL_AUTH_MALFORMED &&
		   check_src(auth, SL_AUTH_SOURCE_AUTHORIZATION, "acme-key-1", NOW, &res, &why) ==
		       SL_AUTH_MALFORMED,
	       "Authorization: another scheme, no credential or no scheme: malformed");
	sl_auth_result_fini(&res);
	TAP_OK(sl_auth_key_lookup(auth, "last-key", 8, NULL) ==
		       sl_config_app_find(&s->cfg, "last") &&
		   sl_auth_key_lookup(auth, "acme-key-1", 10, NULL) ==
		       sl_config_app_find(&s->cfg, "acme") &&
		   sl_auth_key_lookup(auth, "nope", 4, NULL) == NULL &&
		   sl_auth_key_lookup(auth, "", 0, NULL) == NULL,
	       "sl_auth_key_lookup: the first and the last stored key are found, others not");
}

/* The constant-time scan over many keys finds each one, and only it. */
static void test_many_keys(void)
{
	struct setup s;
	char *yaml = NULL, *grow, key[32], hex[65];
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	bool ok = true;
	int i, j;

	fputs("applications:\n", f);
	for (i = 0; i < 40; i++) {
		fprintf(f, "  - id: app%d\n    api_keys:\n", i);
		for (j = 0; j < 3; j++) {
			snprintf(key, sizeof(key), "key-%d-%d", i, j);
			sha256_hex(key, hex);
			fprintf(f, "      - sha256: %s\n", hex);
		}
	}
	fclose(f);
	grow = yaml;
	setup(&s, "many.yaml", grow);
	free(yaml);
	TAP_OK(s.err == 0 && s.auth, "40 applications with 3 keys each load");
	for (i = 0; s.auth && i < 40; i++) {
		for (j = 0; j < 3; j++) {
			const struct sl_config_app *app;
			char id[16];

			snprintf(key, sizeof(key), "key-%d-%d", i, j);
			snprintf(id, sizeof(id), "app%d", i);
			app = sl_auth_key_lookup(s.auth, key, strlen(key), NULL);
			ok &= app && !strcmp(app->id, id);
		}
	}
	TAP_OK(ok, "each of 120 keys maps to its own application");
	TAP_OK(s.auth && !sl_auth_key_lookup(s.auth, "key-40-0", 8, NULL) &&
		   !sl_auth_key_lookup(s.auth, "key-1-3", 7, NULL),
	       "keys of no application are not found");
	teardown(&s);
}

/* ---- Client certificates -------------------------------------------------------------------- */

/* A stand-in certificate fingerprint: the SHA-256 of a name, as bytes and as hex. */
static void fingerprint(const char *name, uint8_t fp[32], char *hex)
{
	wc_Sha256Hash((const byte *)name, (word32)strlen(name), fp);
	if (hex)
		sha256_hex(name, hex);
}

static const char *id_of(const struct sl_config_app *app)
{
	return app ? app->id : "(none)";
}

static void test_certificates(void)
{
	struct setup s;
	uint8_t pinned[32], both[32], unknown[32];
	char hex_pinned[65], hex_both[65], *yaml;
	const struct sl_config_app *app;

	fingerprint("cert-pinned", pinned, hex_pinned);
	fingerprint("cert-both", both, hex_both);
	fingerprint("cert-unknown", unknown, NULL);
	if (asprintf(&yaml,
		     "applications:\n"
		     "  - {id: byname, certificates: [{cn: backend}]}\n"
		     "  - {id: pinned, certificates: [{sha256: %s}]}\n"
		     "  - {id: both, certificates: [{cn: other}, {sha256: %s}]}\n",
		     hex_pinned, hex_both) < 0)
		die("asprintf", -ENOMEM);
	setup(&s, "certs.yaml", yaml);
	free(yaml);
	TAP_OK(s.err == 0 && s.auth, "three applications with certificates load");
	if (!s.auth) {
		teardown(&s);
		return;
	}
	app = sl_auth_cert_lookup(s.auth, "someone", pinned);
	TAP_OK(app && !strcmp(app->id, "pinned"), "by fingerprint, whatever the CN: %s",
	       id_of(app));
	app = sl_auth_cert_lookup(s.auth, "backend", unknown);
	TAP_OK(app && !strcmp(app->id, "byname"), "by CN, with a fingerprint nobody pins: %s",
	       id_of(app));
	app = sl_auth_cert_lookup(s.auth, "backend", NULL);
	TAP_OK(app && !strcmp(app->id, "byname"), "by CN, with no fingerprint: %s", id_of(app));
	app = sl_auth_cert_lookup(s.auth, "backend", pinned);
	TAP_OK(app && !strcmp(app->id, "pinned"),
	       "a fingerprint match wins over a CN match of another application: %s", id_of(app));
	app = sl_auth_cert_lookup(s.auth, "backend", both);
	TAP_OK(app && !strcmp(app->id, "both"),
	       "though the CN's application comes first in the config: %s", id_of(app));
	app = sl_auth_cert_lookup(s.auth, "other", unknown);
	TAP_OK(app && !strcmp(app->id, "both"), "an application with both kinds, by its CN: %s",
	       id_of(app));
	TAP_OK(!sl_auth_cert_lookup(s.auth, "nobody", unknown) &&
		   !sl_auth_cert_lookup(s.auth, "Backend", unknown) &&
		   !sl_auth_cert_lookup(s.auth, "backen", unknown) &&
		   !sl_auth_cert_lookup(s.auth, "backend ", unknown),
	       "no match: an unknown CN, or one that differs in case, by a byte or by length");
	TAP_OK(!sl_auth_cert_lookup(s.auth, "", unknown) &&
		   !sl_auth_cert_lookup(s.auth, NULL, unknown) &&
		   !sl_auth_cert_lookup(s.auth, "", NULL),
	       "an empty or absent CN never matches");
	TAP_OK(sl_auth_cert_lookup(main_setup.auth, "backend", pinned) == NULL,
	       "a config without certificates: nothing matches");
	teardown(&s);
}

/* The sorted indexes at some size: every identity finds its own application. */
static void test_many_certificates(void)
{
	enum {
		N = 1000
	};
	struct setup s;
	char *yaml = NULL, name[32], hex[65];
	uint8_t fp[32], other[32];
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	bool by_fp = true, by_cn = true, first = true;
	int i;

	/* CNs "cn-0", "cn-1", ... "cn-999": config order is not sorted order ("cn-10" < "cn-2"). */
	fputs("applications:\n", f);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "fp-%d", i);
		sha256_hex(name, hex);
		fprintf(f, "  - {id: app%d, certificates: [{sha256: %s}, {cn: cn-%d}]}\n", i, hex,
			i);
	}
	fclose(f);
	setup(&s, "manycerts.yaml", yaml);
	free(yaml);
	TAP_OK(s.err == 0 && s.auth, "%d applications with a fingerprint and a CN each load", N);
	if (!s.auth) {
		teardown(&s);
		return;
	}
	fingerprint("fp-none", other, NULL);
	for (i = 0; i < N; i++) {
		const struct sl_config_app *app;
		char id[16], cn[16];

		snprintf(id, sizeof(id), "app%d", i);
		snprintf(name, sizeof(name), "fp-%d", i);
		fingerprint(name, fp, NULL);
		app = sl_auth_cert_lookup(s.auth, "cn-none", fp);
		by_fp &= app && !strcmp(app->id, id);
		snprintf(cn, sizeof(cn), "cn-%d", i);
		app = sl_auth_cert_lookup(s.auth, cn, other);
		by_cn &= app && !strcmp(app->id, id);
		/* app i's fingerprint with app (i + 1)'s CN: the fingerprint's application. */
		snprintf(cn, sizeof(cn), "cn-%d", (i + 1) % N);
		app = sl_auth_cert_lookup(s.auth, cn, fp);
		first &= app && !strcmp(app->id, id);
	}
	TAP_OK(by_fp, "each of %d fingerprints maps to its own application", N);
	TAP_OK(by_cn, "each of %d CNs maps to its own application", N);
	TAP_OK(first, "with one's fingerprint and another's CN, always the fingerprint's");
	TAP_OK(!sl_auth_cert_lookup(s.auth, "cn-1000", other) &&
		   !sl_auth_cert_lookup(s.auth, "cn-", other) &&
		   !sl_auth_cert_lookup(s.auth, "cn-01", other),
	       "CNs of no application are not found");
	teardown(&s);
}

/* ---- One issuer; issuer problems ------------------------------------------------------------ */

static void test_single_issuer(void)
{
	struct setup s;

	setup(&s, "single.yaml",
	      "applications: [{id: acme, subscribe: [\">\"]}]\n"
	      "issuers:\n"
	      "  - name: only\n"
	      "    alg: RS256\n"
	      "    public_key_file: keys/rsa.pem\n"
	      "    issuer: https://rs.example\n");
	TAP_OK(s.err == 0 && s.auth, "one RS256 issuer without an audience loads");
	if (!s.auth) {
		teardown(&s);
		return;
	}
	EXPECT(s.auth,
	       token(SIGN_RS, claims("{\"iss\":\"https://rs.example\",\"sub\":\"acme\","
				     "\"aud\":\"anything\",\"exp\":%llu}",
				     NOW_S + 60)),
	       SL_AUTH_OK, "single issuer: its tokens pass, aud unchecked without an audience");
	EXPECT(s.auth, token(SIGN_RS, good_claims("https://evil.example")), SL_AUTH_WRONG_ISSUER,
	       "single issuer: another iss is the wrong issuer");
	EXPECT(s.auth, token(SIGN_RS, claims("{\"sub\":\"acme\",\"exp\":%llu}", NOW_S + 60)),
	       SL_AUTH_WRONG_ISSUER, "single issuer with an issuer value: no iss is wrong");
	EXPECT(s.auth, token(SIGN_HS_PEM, good_claims("https://rs.example")),
	       SL_AUTH_ALG_NOT_ALLOWED,
	       "single RS256 issuer: HS256 keyed with its public key PEM is refused");
	teardown(&s);

	setup(&s, "none.yaml", "applications: [{id: acme, subscribe: [\">\"]}]\n");
	TAP_OK(s.err == 0 && s.auth && sl_auth_issuer_count(s.auth) == 0,
	       "no issuers section: nothing to load");
	if (s.auth)
		EXPECT(s.auth, token(SIGN_HS, good_claims("https://hs.example")),
		       SL_AUTH_UNKNOWN_ISSUER, "no issuers: every JWT names an unknown issuer");
	teardown(&s);

	setup(&s, "inline.yaml",
	      "applications: [{id: acme, subscribe: [\">\"]}]\n"
	      "issuers: [{name: hs, alg: HS256, secret: \"" HS_SECRET "\"}]\n");
	TAP_OK(s.err == 0 && s.auth, "an inline HS256 secret loads");
	if (s.auth)
		EXPECT(
		    s.auth, token(SIGN_HS, claims("{\"sub\":\"acme\",\"exp\":%llu}", NOW_S + 60)),
		    SL_AUTH_OK, "single issuer without issuer value: a token without iss passes");
	teardown(&s);
}

/* Loads yaml and expects sl_auth_new to fail with one message at line:col containing want. */
static void expect_problem(const char *what, const char *yaml, unsigned int line, unsigned int col,
			   const char *want)
{
	char prefix[PATH_MAX + 32];
	struct setup s;
	bool found = false;
	size_t i;

	setup(&s, "bad.yaml", yaml);
	snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", s.path, line, col);
	for (i = 0; i < s.diag.stored; i++) {
		const char *m = sl_diag_get(&s.diag, i);

		found |= !strncmp(m, prefix, strlen(prefix)) && strstr(m, want);
	}
	TAP_OK(s.err == -EINVAL && !s.auth && found && sl_diag_count(&s.diag) == 1,
	       "%s: %u:%u \"%s\"", what, line, col, want);
	if (!found || sl_diag_count(&s.diag) != 1)
		for (i = 0; i < s.diag.stored; i++)
			printf("#   %s\n", sl_diag_get(&s.diag, i));
	teardown(&s);
}

static void test_issuer_problems(void)
{
	put("keys/rsa1024.pem", rsa_small_pem);
	put("keys/p384.pem", ec384_pem);
	put("keys/ec-private.pem", ec_priv_pem);
	put("keys/junk.pem", "not a key\n");
	put("short.secret", "short\n");

	expect_problem("alg none", "issuers:\n  - name: a\n    alg: none\n", 3, 10,
		       "issuers[0].alg: \"none\" is not accepted: unsigned tokens are always "
		       "refused");
	expect_problem("alg PS256", "issuers:\n  - {name: a, alg: PS256}\n", 2, 20,
		       "issuers[0].alg: \"PS256\" is not supported: use HS256, RS256 or ES256");
	expect_problem("no alg", "issuers:\n  - name: a\n    secret: x\n", 2, 5,
		       "issuers[0]: issuer \"a\" needs alg");
	expect_problem("HS256 without secret", "issuers:\n  - {name: a, alg: HS256}\n", 2, 5,
		       "HS256 issuer \"a\" needs secret or secret_file");
	expect_problem("short secret", "issuers:\n  - {name: a, alg: HS256, secret: abc}\n", 2, 35,
		       "issuers[0].secret: 3 bytes is too short");
	expect_problem("short secret_file",
		       "issuers:\n  - {name: a, alg: HS256, secret_file: short.secret}\n", 2, 40,
		       "is 5 bytes, too short");
	expect_problem("secret and secret_file",
		       "issuers:\n  - name: a\n    alg: HS256\n    secret: \"" HS_SECRET
		       "\"\n    secret_file: hs.secret\n",
		       5, 18, "give secret or secret_file, not both");
	{
		/* One byte over the bound on key files, for a secret and for a public key. */
		static char big[64 * 1024 + 2];

		memset(big, 'k', sizeof(big) - 1);
		put("big.secret", big);
		put("keys/big.pem", big);
	}
	expect_problem("secret_file over 64 KiB",
		       "issuers:\n  - {name: a, alg: HS256, secret_file: big.secret}\n", 2, 40,
		       "issuers[0].secret_file: cannot read ");
	expect_problem("secret_file over 64 KiB, the reason",
		       "issuers:\n  - {name: a, alg: HS256, secret_file: big.secret}\n", 2, 40,
		       "the file is larger than 64 KiB, too large for a key");
	expect_problem("public_key_file over 64 KiB",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/big.pem}\n", 2,
		       44, "the file is larger than 64 KiB, too large for a key");
	expect_problem("missing secret_file",
		       "issuers:\n  - {name: a, alg: HS256, secret_file: nope.secret}\n", 2, 40,
		       "cannot read");
	expect_problem("HS256 with a public key",
		       "issuers:\n  - name: a\n    alg: HS256\n    public_key_file: keys/rsa.pem\n",
		       4, 22, "HS256 verifies with a shared secret, not a public key");
	expect_problem("RS256 without a key", "issuers:\n  - {name: a, alg: RS256}\n", 2, 5,
		       "RS256 issuer \"a\" needs public_key_file");
	expect_problem("RS256 with a secret",
		       "issuers:\n  - name: a\n    alg: RS256\n    public_key_file: keys/rsa.pem\n"
		       "    secret: \"" HS_SECRET "\"\n",
		       5, 13, "issuers[0].secret: only HS256 issuers have a secret");
	expect_problem("unreadable key file",
		       "issuers:\n  - {name: a, alg: RS256, public_key_file: keys/missing.pem}\n",
		       2, 44, "cannot read");
	expect_problem("key file is a directory",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys}\n", 2, 44,
		       "not a regular file");
	expect_problem("RS256 with an EC key",
		       "issuers:\n  - {name: a, alg: RS256, public_key_file: keys/ec.pem}\n", 2, 44,
		       "holds an EC key, not the RSA key RS256 needs");
	expect_problem("ES256 with an RSA key",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/rsa.pem}\n", 2,
		       44, "holds an RSA key, not the EC P-256 key ES256 needs");
	expect_problem("ES256 with a P-384 key",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/p384.pem}\n", 2,
		       44, "not on P-256");
	expect_problem("RS256 with a 1024-bit key",
		       "issuers:\n  - {name: a, alg: RS256, public_key_file: keys/rsa1024.pem}\n",
		       2, 44, "2048 to 4096 bits");
	expect_problem(
	    "a private key",
	    "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/ec-private.pem}\n", 2, 44,
	    "holds a private key");
	expect_problem("not PEM",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/junk.pem}\n", 2,
		       44, "no PEM public key");
	expect_problem("unknown key",
		       "issuers:\n  - name: a\n    alg: ES256\n    public_key_file: keys/ec.pem\n"
		       "    kid: k1\n",
		       5, 5, "issuers[0]: unknown key \"kid\"");
	expect_problem("one iss for two issuers",
		       "issuers:\n"
		       "  - {name: a, alg: ES256, public_key_file: keys/ec.pem, issuer: x}\n"
		       "  - {name: b, alg: RS256, public_key_file: keys/rsa.pem, issuer: x}\n",
		       3, 66, "\"x\" is already the issuer value of \"a\" at 2:65");
	expect_problem("empty audience",
		       "issuers:\n  - {name: a, alg: ES256, public_key_file: keys/ec.pem, "
		       "audience: \"\"}\n",
		       2, 67, "issuers[0].audience: the value is empty");
}

int main(void)
{
	if (tmpfiles_init("auth"))
		return 2;
	make_keys();
	test_b64url();
	test_hex();
	main_config();
	test_valid(main_setup.auth);
	test_times(main_setup.auth);
	test_claims(main_setup.auth);
	test_algorithms(main_setup.auth);
	test_tampering(main_setup.auth);
	test_encoding(main_setup.auth);
	test_scope(main_setup.auth);
	test_api_keys(&main_setup);
	test_many_keys();
	test_certificates();
	test_many_certificates();
	test_single_issuer();
	test_issuer_problems();
	teardown(&main_setup);
	free_keys();
	cleanup();
	return tap_done();
}
