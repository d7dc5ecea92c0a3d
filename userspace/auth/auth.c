// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Three parts: building the indexes and issuers from a loaded config, the
 * credential check (API key or JWT claims, RFC 7519 §4.1 and §7.2), and the
 * permission test that combines an application's patterns with a token's
 * scope. Tokens are parsed and their signatures verified in jwt.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <yaml.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "config/node.h"
#include "route/topic.h"

#define DIGEST_LEN 32

/* A PEM public key is a few hundred bytes; a shared secret far less. */
#define MAX_KEY_FILE_BYTES (64u << 10)

#define NSEC_PER_SEC 1000000000ull

struct issuer {
	char *name;
	enum sl_jwt_alg alg;
	char *iss;	/* the `iss` its tokens carry; NULL: not checked */
	char *audience; /* must be in `aud`; NULL: not checked */
	struct sl_jwt_key *key;
	const yaml_node_t *iss_node; /* while loading: where `issuer` was written */
};

struct key_entry {
	uint8_t digest[DIGEST_LEN];
	const struct sl_config_app *app;
};

struct cert_fp_entry {
	uint8_t sha256[DIGEST_LEN];
	const struct sl_config_app *app;
};

struct cert_cn_entry {
	const char *cn; /* the config's copy */
	const struct sl_config_app *app;
};

struct sl_auth {
	const struct sl_config *cfg;
	uint64_t leeway_ns;
	struct issuer *issuers;
	uint32_t n_issuers;
	struct key_entry *keys; /* every application's API keys, flat for the constant-time scan */
	size_t n_keys;
	const struct sl_config_app **by_id; /* sorted by id, for `sub` */
	uint32_t n_by_id;
	struct cert_fp_entry *cert_fps; /* sorted by fingerprint, for mTLS */
	size_t n_cert_fps;
	struct cert_cn_entry *cert_cns; /* sorted by CN, for mTLS */
	size_t n_cert_cns;
};

static const char *const reason_names[SL_AUTH_REASON_COUNT] = {
	[SL_AUTH_OK] = "ok",
	[SL_AUTH_MISSING] = "missing",
	[SL_AUTH_MALFORMED] = "malformed",
	[SL_AUTH_TOO_LARGE] = "too_large",
	[SL_AUTH_ALG_NOT_ALLOWED] = "alg_not_allowed",
	[SL_AUTH_UNKNOWN_ISSUER] = "unknown_issuer",
	[SL_AUTH_BAD_SIGNATURE] = "bad_signature",
	[SL_AUTH_WRONG_ISSUER] = "wrong_issuer",
	[SL_AUTH_MISSING_CLAIM] = "missing_claim",
	[SL_AUTH_EXPIRED] = "expired",
	[SL_AUTH_NOT_YET_VALID] = "not_yet_valid",
	[SL_AUTH_WRONG_AUDIENCE] = "wrong_audience",
	[SL_AUTH_UNKNOWN_APPLICATION] = "unknown_application",
	[SL_AUTH_UNKNOWN_KEY] = "unknown_key",
	[SL_AUTH_INTERNAL] = "internal",
	[SL_AUTH_FORBIDDEN_ORIGIN] = "forbidden_origin",
};

const char *sl_auth_reason_name(enum sl_auth_reason reason)
{
	if ((unsigned int)reason >= SL_AUTH_REASON_COUNT)
		return "unknown";
	return reason_names[reason];
}

uint32_t sl_auth_issuer_count(const struct sl_auth *auth)
{
	return auth->n_issuers;
}

void sl_auth_issuer_info(const struct sl_auth *auth, uint32_t i, struct sl_auth_issuer_info *out)
{
	const struct issuer *is = &auth->issuers[i];

	out->name = is->name;
	out->alg = sl_jwt_alg_name(is->alg);
	out->issuer = is->iss;
	out->audience = is->audience;
	sl_jwt_key_fingerprint(is->key, out->key_sha256);
}

/* ---- Loading: issuers ----------------------------------------------------------------------- */

/* What loading the issuers needs to report a problem at its place. */
struct loader {
	const struct sl_config *cfg;
	struct sl_diag *diag;
	int err; /* -ENOMEM once an allocation failed */
};

static void problem(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char *msg = NULL;
	const char *file;
	unsigned rank = 0;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&msg, fmt, ap);
	va_end(ap);
	file = sl_config_node_file(ld->cfg, n, &rank);
	sl_diag_add_ranked(ld->diag, rank, file, n ? n->start_mark.line + 1 : 0,
			   n ? n->start_mark.column + 1 : 0, "%s", len < 0 ? "out of memory" : msg);
	free(msg);
}

static yaml_node_t *node_at(const struct sl_config *cfg, int index)
{
	return yaml_document_get_node(cfg->doc, index);
}

/*
 * A string value, or NULL: null is "not given" without a message; a list, a
 * mapping or a NUL byte is reported. Empty strings are refused because an
 * empty `issuer` or `audience` would look configured and match nothing.
 */
static const char *string_value(struct loader *ld, const yaml_node_t *n, const char *path)
{
	const char *s;

	if (!n || sl_node_is_null(n))
		return NULL;
	if (n->type != YAML_SCALAR_NODE) {
		problem(ld, n, "%s: expected a string, got a %s", path,
			n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return NULL;
	}
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		problem(ld, n, "%s: the value holds a NUL byte", path);
		return NULL;
	}
	if (!*s) {
		problem(ld, n, "%s: the value is empty", path);
		return NULL;
	}
	return s;
}

/* path made absolute against the config's directory, as the config does for its own files. */
static char *resolve(const struct sl_config *cfg, const char *path)
{
	char *full = NULL;

	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&full, "%s/%s", cfg->dir ? cfg->dir : ".", path) < 0)
		return NULL;
	return full;
}

/* Reads a whole small file. Returns 0, -EFBIG or -errno; *buf is NUL-terminated. */
static int read_small_file(const char *path, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_KEY_FILE_BYTES) {
		err = -EFBIG;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(b);
			goto out;
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
out:
	close(fd);
	return err;
}

static const char *file_error(int err)
{
	if (err == -EFBIG)
		return "the file is larger than 64 KiB, too large for a key";
	if (err == -EISDIR)
		return "not a regular file";
	return strerror(-err);
}

/*
 * Reads the key file that the string at n names (p is its path for messages),
 * relative to the config's folder. Returns the text, NUL-terminated, with its
 * length and the resolved name in *file (the caller frees both), or NULL after
 * a problem was reported (or ld->err set to -ENOMEM).
 */
static char *read_key_file(struct loader *ld, const yaml_node_t *n, const char *p, char **file,
			   size_t *len)
{
	const char *s = string_value(ld, n, p);
	char *text = NULL;
	int err;

	*file = NULL;
	if (!s)
		return NULL;
	*file = resolve(ld->cfg, s);
	if (!*file) {
		ld->err = -ENOMEM;
		return NULL;
	}
	err = read_small_file(*file, &text, len);
	if (err == -ENOMEM)
		ld->err = err;
	else if (err)
		problem(ld, n, "%s: cannot read %s: %s", p, *file, file_error(err));
	return err ? NULL : text;
}

/* The secret of an HS256 issuer, from `secret` or `secret_file`. */
static void load_secret(struct loader *ld, struct issuer *is, const char *path,
			const yaml_node_t *secret_node, const yaml_node_t *file_node)
{
	char p[96], *file, *text;
	const char *s, *why;
	size_t size, len;
	int err;

	if (secret_node && file_node) {
		problem(ld, file_node, "%s.secret_file: give secret or secret_file, not both",
			path);
		return;
	}
	if (secret_node) {
		snprintf(p, sizeof(p), "%s.secret", path);
		s = string_value(ld, secret_node, p);
		if (!s)
			return;
		len = strlen(s);
		err = sl_jwt_key_new_hmac(&is->key, s, len, &why);
		if (err == -ENOMEM)
			ld->err = err;
		else if (err)
			problem(ld, secret_node, "%s: %zu bytes is too short: %s", p, len, why);
		return;
	}
	snprintf(p, sizeof(p), "%s.secret_file", path);
	text = read_key_file(ld, file_node, p, &file, &size);
	if (text) {
		len = size;
		/* `echo SECRET > FILE` adds a newline that is not part of the secret. */
		if (len && text[len - 1] == '\n')
			len--;
		if (len && text[len - 1] == '\r')
			len--;
		err = sl_jwt_key_new_hmac(&is->key, text, len, &why);
		if (err == -ENOMEM)
			ld->err = err;
		else if (err)
			problem(ld, file_node, "%s: the secret in %s is %zu bytes, too short: %s",
				p, file, len, why);
		explicit_bzero(text, size);
		free(text);
	}
	free(file);
}

static void load_public_key(struct loader *ld, struct issuer *is, const char *path,
			    const yaml_node_t *n)
{
	char p[96], *file, *text;
	const char *why;
	size_t len;
	int err;

	snprintf(p, sizeof(p), "%s.public_key_file", path);
	text = read_key_file(ld, n, p, &file, &len);
	if (text) {
		err = sl_jwt_key_new_pem(&is->key, is->alg, text, len, &why);
		if (err == -ENOMEM)
			ld->err = err;
		else if (err)
			problem(ld, n, "%s: %s: %s", p, file, why);
		free(text);
	}
	free(file);
}

static const char *const issuer_keys[] = {
	"name", "alg", "secret", "secret_file", "public_key_file", "issuer", "audience"
};
#define N_ISSUER_KEYS (sizeof(issuer_keys) / sizeof(issuer_keys[0]))

/*
 * One entry of `issuers`. The config loader has already reported a missing
 * or bad name and an entry that is not a mapping; such entries are skipped
 * here without a second message.
 */
static void load_issuer(struct loader *ld, const yaml_node_t *item, const char *path,
			struct issuer *is)
{
	const yaml_node_t *v[N_ISSUER_KEYS] = { 0 };
	const yaml_node_pair_t *pair;
	const char *s;
	char p[96];
	size_t k;

	for (pair = item->data.mapping.pairs.start; pair < item->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = node_at(ld->cfg, pair->key);
		const char *name = key && key->type == YAML_SCALAR_NODE
				       ? (const char *)key->data.scalar.value
				       : "";

		for (k = 0; k < N_ISSUER_KEYS; k++)
			if (!strcmp(name, issuer_keys[k]))
				break;
		if (k == N_ISSUER_KEYS) {
			problem(ld, key,
				"%s: unknown key \"%.40s\" (an issuer has name, alg, secret, "
				"secret_file, public_key_file, issuer, audience)",
				path, name);
			continue;
		}
		v[k] = node_at(ld->cfg, pair->value);
	}
	if (!v[0] || v[0]->type != YAML_SCALAR_NODE || sl_node_is_null(v[0]))
		return;
	is->name = strdup((const char *)v[0]->data.scalar.value);
	if (!is->name) {
		ld->err = -ENOMEM;
		return;
	}

	snprintf(p, sizeof(p), "%s.alg", path);
	s = v[1] ? string_value(ld, v[1], p) : NULL;
	if (!v[1] || (!s && sl_node_is_null(v[1]))) {
		problem(ld, item, "%s: issuer \"%s\" needs alg: HS256, RS256 or ES256", path,
			is->name);
	} else if (s) {
		is->alg = sl_jwt_alg_parse(s);
		if (is->alg == SL_JWT_ALG_INVALID && !strcasecmp(s, "none"))
			problem(ld, v[1],
				"%s: \"none\" is not accepted: unsigned tokens are always refused; "
				"use HS256, RS256 or ES256",
				p);
		else if (is->alg == SL_JWT_ALG_INVALID)
			problem(ld, v[1],
				"%s: \"%.40s\" is not supported: use HS256, RS256 or ES256", p, s);
	}

	snprintf(p, sizeof(p), "%s.issuer", path);
	s = string_value(ld, v[5], p);
	if (s && !(is->iss = strdup(s)))
		ld->err = -ENOMEM;
	is->iss_node = v[5];
	snprintf(p, sizeof(p), "%s.audience", path);
	s = string_value(ld, v[6], p);
	if (s && !(is->audience = strdup(s)))
		ld->err = -ENOMEM;

	/* Null keys count as absent, like everywhere else in the config. */
	for (k = 2; k <= 4; k++)
		if (v[k] && sl_node_is_null(v[k]))
			v[k] = NULL;
	if (is->alg == SL_JWT_HS256) {
		/*
		 * A public key on an HS256 issuer is the setup of the classic
		 * algorithm-confusion attack (the public key used as an HMAC
		 * secret), so it is an error rather than ignored.
		 */
		if (v[4])
			problem(ld, v[4],
				"%s.public_key_file: HS256 verifies with a shared secret, not a "
				"public key: use secret or secret_file, or alg RS256 or ES256",
				path);
		else if (!v[2] && !v[3])
			problem(ld, item, "%s: HS256 issuer \"%s\" needs secret or secret_file",
				path, is->name);
		else
			load_secret(ld, is, path, v[2], v[3]);
	} else if (is->alg == SL_JWT_RS256 || is->alg == SL_JWT_ES256) {
		for (k = 2; k <= 3; k++)
			if (v[k])
				problem(ld, v[k],
					"%s.%s: only HS256 issuers have a secret; %s verifies with "
					"public_key_file",
					path, issuer_keys[k], sl_jwt_alg_name(is->alg));
		if (!v[4])
			problem(
			    ld, item,
			    "%s: %s issuer \"%s\" needs public_key_file (PEM, BEGIN PUBLIC KEY)",
			    path, sl_jwt_alg_name(is->alg), is->name);
		else
			load_public_key(ld, is, path, v[4]);
	}
}

static void free_issuer(struct issuer *is)
{
	free(is->name);
	free(is->iss);
	free(is->audience);
	sl_jwt_key_free(is->key);
}

/*
 * Two issuers with one `issuer` value would make a token's issuer depend on
 * the order of the list: refused.
 */
static void check_iss_unique(struct loader *ld, struct issuer *v, uint32_t n)
{
	uint32_t i, j;

	for (i = 1; i < n; i++) {
		if (!v[i].iss)
			continue;
		for (j = 0; j < i; j++) {
			if (v[j].iss && !strcmp(v[i].iss, v[j].iss)) {
				problem(ld, v[i].iss_node,
					"issuers: \"%.60s\" is already the issuer value of \"%s\" "
					"at %zu:%zu; a token's iss must pick one issuer",
					v[i].iss, v[j].name, v[j].iss_node->start_mark.line + 1,
					v[j].iss_node->start_mark.column + 1);
				break;
			}
		}
	}
}

static int load_issuers(struct sl_auth *auth, const struct sl_config *cfg, struct sl_diag *diag)
{
	struct loader ld = { .cfg = cfg, .diag = diag };
	const yaml_node_t *seq;
	size_t count, before = sl_diag_count(diag);
	uint32_t i;

	if (!cfg->doc || !cfg->issuers.present || !cfg->issuers.node)
		return 0;
	seq = node_at(cfg, cfg->issuers.node);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0; /* null (no issuers) or reported by the config loader */
	count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	/* Over the bound: the config loader said so and read none of them; neither does this. */
	if (count > SL_CONFIG_MAX_APPS)
		return 0;
	auth->issuers = calloc(count ? count : 1, sizeof(*auth->issuers));
	if (!auth->issuers)
		return -ENOMEM;
	for (i = 0; i < count && !ld.err; i++) {
		const yaml_node_t *item = node_at(cfg, seq->data.sequence.items.start[i]);
		struct issuer *is = &auth->issuers[auth->n_issuers];
		char path[32];

		if (!item || item->type != YAML_MAPPING_NODE)
			continue;
		snprintf(path, sizeof(path), "issuers[%u]", i);
		load_issuer(&ld, item, path, is);
		if (is->name && is->key) {
			auth->n_issuers++;
		} else {
			free_issuer(is);
			memset(is, 0, sizeof(*is));
		}
	}
	if (!ld.err)
		check_iss_unique(&ld, auth->issuers, auth->n_issuers);
	if (ld.err)
		return ld.err;
	return sl_diag_count(diag) > before ? -EINVAL : 0;
}

/* ---- Loading: applications ------------------------------------------------------------------ */

static int app_id_cmp(const void *a, const void *b)
{
	const struct sl_config_app *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

static int cert_fp_cmp(const void *a, const void *b)
{
	const struct cert_fp_entry *x = a, *y = b;

	return memcmp(x->sha256, y->sha256, DIGEST_LEN);
}

static int cert_cn_cmp(const void *a, const void *b)
{
	const struct cert_cn_entry *x = a, *y = b;

	return strcmp(x->cn, y->cn);
}

static int index_apps(struct sl_auth *auth, const struct sl_config *cfg)
{
	size_t n_keys = 0, n_fps = 0, n_cns = 0, k = 0;
	uint32_t i, j;

	for (i = 0; i < cfg->n_apps; i++) {
		n_keys += cfg->apps[i].n_api_keys;
		n_fps += cfg->apps[i].n_cert_sha256;
		n_cns += cfg->apps[i].n_cert_cn;
	}
	auth->keys = calloc(n_keys ? n_keys : 1, sizeof(*auth->keys));
	auth->by_id = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*auth->by_id));
	auth->cert_fps = calloc(n_fps ? n_fps : 1, sizeof(*auth->cert_fps));
	auth->cert_cns = calloc(n_cns ? n_cns : 1, sizeof(*auth->cert_cns));
	if (!auth->keys || !auth->by_id || !auth->cert_fps || !auth->cert_cns)
		return -ENOMEM;
	for (i = 0; i < cfg->n_apps; i++) {
		const struct sl_config_app *app = &cfg->apps[i];

		for (j = 0; j < app->n_api_keys; j++, k++) {
			memcpy(auth->keys[k].digest, app->api_keys[j], DIGEST_LEN);
			auth->keys[k].app = app;
		}
		for (j = 0; j < app->n_cert_sha256; j++) {
			struct cert_fp_entry *e = &auth->cert_fps[auth->n_cert_fps++];

			memcpy(e->sha256, app->cert_sha256[j], DIGEST_LEN);
			e->app = app;
		}
		for (j = 0; j < app->n_cert_cn; j++)
			auth->cert_cns[auth->n_cert_cns++] =
			    (struct cert_cn_entry){ .cn = app->cert_cn[j], .app = app };
		if (app->id)
			auth->by_id[auth->n_by_id++] = app;
	}
	auth->n_keys = k;
	qsort(auth->by_id, auth->n_by_id, sizeof(*auth->by_id), app_id_cmp);
	qsort(auth->cert_fps, auth->n_cert_fps, sizeof(*auth->cert_fps), cert_fp_cmp);
	qsort(auth->cert_cns, auth->n_cert_cns, sizeof(*auth->cert_cns), cert_cn_cmp);
	return 0;
}

static const struct sl_config_app *find_app(const struct sl_auth *auth, const char *id)
{
	struct sl_config_app want = { .id = id };
	const struct sl_config_app *key = &want, *const * found;

	found = bsearch(&key, auth->by_id, auth->n_by_id, sizeof(*auth->by_id), app_id_cmp);
	return found ? *found : NULL;
}

int sl_auth_new(struct sl_auth **out, const struct sl_config *cfg, struct sl_diag *diag)
{
	struct sl_auth *auth;
	int err;

	*out = NULL;
	auth = calloc(1, sizeof(*auth));
	if (!auth)
		return -ENOMEM;
	auth->cfg = cfg;
	auth->leeway_ns = cfg->jwt.leeway_ns;
	err = index_apps(auth, cfg);
	if (!err)
		err = load_issuers(auth, cfg, diag);
	if (err) {
		sl_auth_free(auth);
		return err;
	}
	*out = auth;
	return 0;
}

void sl_auth_free(struct sl_auth *auth)
{
	uint32_t i;

	if (!auth)
		return;
	for (i = 0; i < auth->n_issuers; i++)
		free_issuer(&auth->issuers[i]);
	free(auth->issuers);
	free(auth->keys);
	free(auth->by_id);
	free(auth->cert_fps);
	free(auth->cert_cns);
	free(auth);
}

/* ---- API keys ------------------------------------------------------------------------------- */

const struct sl_config_app *sl_auth_key_lookup(const struct sl_auth *auth, const char *key,
					       size_t len, uint32_t *key_tag)
{
	uint8_t digest[DIGEST_LEN];
	size_t i, found = 0;
	unsigned int j;

	if (len > SL_AUTH_MAX_KEY_BYTES || wc_Sha256Hash((const byte *)key, (word32)len, digest))
		return NULL;
	/*
	 * Every digest is compared in full and the match is folded in with
	 * masks, not branches: the loop takes the same time whether the key
	 * matches the first entry, the last or none. The config refuses one
	 * key in two applications, so at most one entry matches.
	 */
	for (i = 0; i < auth->n_keys; i++) {
		unsigned int diff = 0;
		size_t mask;

		for (j = 0; j < DIGEST_LEN; j++)
			diff |= auth->keys[i].digest[j] ^ digest[j];
		/* diff in 0..255: (diff - 1) >> 8 is all ones only for 0. */
		mask = (size_t)0 - (size_t)(((diff - 1) >> 8) & 1);
		/* Keeps the compiler from turning the mask back into a branch. */
		__asm__("" : "+r"(mask));
		found |= (i + 1) & mask;
	}
	explicit_bzero(digest, sizeof(digest));
	if (!found)
		return NULL;
	if (key_tag)
		memcpy(key_tag, auth->keys[found - 1].digest, sizeof(*key_tag));
	return auth->keys[found - 1].app;
}

bool sl_auth_still_names(const struct sl_auth *auth, struct sl_auth_result *res,
			 const struct sl_config_app *app)
{
	uint32_t i, tag;

	switch (res->method) {
	case SL_AUTH_METHOD_API_KEY:
		for (i = 0; i < app->n_api_keys; i++) {
			memcpy(&tag, app->api_keys[i], sizeof(tag));
			if (tag == res->key_tag)
				return true;
		}
		return false;
	case SL_AUTH_METHOD_JWT:
		for (i = 0; res->issuer && i < auth->n_issuers; i++)
			if (!strcmp(auth->issuers[i].name, res->issuer)) {
				res->issuer = auth->issuers[i].name;
				return true;
			}
		return false;
	default:
		return true;
	}
}

/* ---- Client certificates -------------------------------------------------------------------- */

const struct sl_config_app *sl_auth_cert_lookup(const struct sl_auth *auth, const char *cn,
						const uint8_t sha256[32])
{
	if (sha256) {
		struct cert_fp_entry want = { .app = NULL };
		const struct cert_fp_entry *fp;

		memcpy(want.sha256, sha256, DIGEST_LEN);
		fp = bsearch(&want, auth->cert_fps, auth->n_cert_fps, sizeof(*auth->cert_fps),
			     cert_fp_cmp);
		if (fp)
			return fp->app;
	}
	/* The config refuses an empty CN, but a certificate may have none: that names nobody. */
	if (cn && cn[0]) {
		struct cert_cn_entry want = { .cn = cn };
		const struct cert_cn_entry *name;

		name = bsearch(&want, auth->cert_cns, auth->n_cert_cns, sizeof(*auth->cert_cns),
			       cert_cn_cmp);
		if (name)
			return name->app;
	}
	return NULL;
}

/* ---- Checking a credential ------------------------------------------------------------------ */

static int refuse(struct sl_auth_result *res, const char **why, enum sl_auth_reason reason,
		  const char *msg)
{
	sl_auth_result_fini(res);
	res->reason = reason;
	if (why)
		*why = msg;
	return reason == SL_AUTH_INTERNAL ? -ENOMEM : -EACCES;
}

static int check_key(struct sl_auth *auth, const char *key, size_t len, struct sl_auth_result *res,
		     const char **why)
{
	const struct sl_config_app *app;

	if (len == 0)
		return refuse(res, why, SL_AUTH_MISSING, "the API key is empty");
	if (len > SL_AUTH_MAX_KEY_BYTES)
		return refuse(res, why, SL_AUTH_TOO_LARGE, "the API key is longer than 1024 bytes");
	app = sl_auth_key_lookup(auth, key, len, &res->key_tag);
	if (!app)
		return refuse(res, why, SL_AUTH_UNKNOWN_KEY, "no application has this API key");
	res->app = app;
	res->method = SL_AUTH_METHOD_API_KEY;
	res->reason = SL_AUTH_OK;
	return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/*
 * A NumericDate (RFC 7519 §2): seconds since the epoch, possibly with a
 * fraction, as Unix ns. Dates past 2554 saturate. Negative ones are refused:
 * no issuer means them, and they would wrap in unsigned arithmetic.
 */
static int numeric_date(const json_t *v, uint64_t *ns)
{
	if (json_is_integer(v)) {
		json_int_t s = json_integer_value(v);

		if (s < 0)
			return -EINVAL;
		*ns = (uint64_t)s > UINT64_MAX / NSEC_PER_SEC ? UINT64_MAX
							      : (uint64_t)s * NSEC_PER_SEC;
		return 0;
	}
	if (json_is_real(v)) {
		double s = json_real_value(v);

		if (!(s >= 0))
			return -EINVAL;
		*ns = s >= (double)(UINT64_MAX / NSEC_PER_SEC) ? UINT64_MAX : (uint64_t)(s * 1e9);
		return 0;
	}
	return -EINVAL;
}

/*
 * RFC 7519 §4.1.3: aud is one string or an array of strings, and the
 * recipient must find itself in it.
 */
static int check_audience(const json_t *aud, const char *want, const char **why,
			  enum sl_auth_reason *reason)
{
	size_t i;

	if (json_is_string(aud))
		return want && strcmp(json_string_value(aud), want) ? -1 : 0;
	if (!aud) {
		if (!want)
			return 0;
		*reason = SL_AUTH_WRONG_AUDIENCE;
		*why = "the token has no aud, and this issuer's tokens must name this gateway";
		return -1;
	}
	if (!json_is_array(aud)) {
		*reason = SL_AUTH_MALFORMED;
		*why = "the token's aud is neither a string nor an array of strings";
		return -1;
	}
	for (i = 0; i < json_array_size(aud); i++) {
		if (!json_is_string(json_array_get(aud, i))) {
			*reason = SL_AUTH_MALFORMED;
			*why = "the token's aud is neither a string nor an array of strings";
			return -1;
		}
	}
	if (!want)
		return 0;
	for (i = 0; i < json_array_size(aud); i++)
		if (!strcmp(json_string_value(json_array_get(aud, i)), want))
			return 0;
	return -1;
}

/*
 * The scope claim (RFC 8693 §4.2, RFC 6749 §3.3): space-separated. Entries
 * that are not topic patterns ("openid", "read:x" from a shared identity
 * provider) are dropped: they cover no topic, so dropping them only narrows.
 */
static int parse_scope(const char *text, struct sl_auth_result *res, const char **why)
{
	size_t len = strlen(text), n = 0, i, start;
	char *block, *copy;
	char **list;

	for (i = 0; i < len; i++)
		if (text[i] != ' ' && (i == 0 || text[i - 1] == ' '))
			n++;
	if (n > SL_AUTH_MAX_SCOPE_PATTERNS)
		return refuse(res, why, SL_AUTH_TOO_LARGE,
			      "the token's scope has more than 256 "
			      "entries");
	block = malloc((n + 1) * sizeof(char *) + len + 1);
	if (!block)
		return refuse(res, why, SL_AUTH_INTERNAL, "out of memory");
	list = (char **)block;
	copy = block + (n + 1) * sizeof(char *);
	memcpy(copy, text, len + 1);
	res->scope = list;
	res->scoped = true;
	for (i = 0; i <= len; i++) {
		if (copy[i] == ' ' || copy[i] == '\0')
			continue;
		start = i;
		while (copy[i] && copy[i] != ' ')
			i++;
		copy[i] = '\0';
		if (sl_topic_validate(copy + start, i - start, true, NULL) == 0)
			list[res->n_scope++] = copy + start;
	}
	list[res->n_scope] = NULL;
	return 0;
}

/*
 * RFC 7519 §4.1.1: the token's issuer. Matched first against the `issuer`
 * values, then the names; with one issuer configured it is the only
 * candidate, and its `issuer` (if set) is checked after the signature.
 */
static const struct issuer *pick_issuer(const struct sl_auth *auth, const char *iss)
{
	uint32_t i;

	if (iss) {
		for (i = 0; i < auth->n_issuers; i++)
			if (auth->issuers[i].iss && !strcmp(auth->issuers[i].iss, iss))
				return &auth->issuers[i];
		for (i = 0; i < auth->n_issuers; i++)
			if (!strcmp(auth->issuers[i].name, iss))
				return &auth->issuers[i];
	}
	return auth->n_issuers == 1 ? &auth->issuers[0] : NULL;
}

static int check_claims(struct sl_auth *auth, const struct issuer *is, const json_t *claims,
			uint64_t now_ns, struct sl_auth_result *res, const char **why)
{
	const json_t *iss = json_object_get(claims, "iss"), *v;
	enum sl_auth_reason reason = SL_AUTH_WRONG_AUDIENCE;
	const char *msg = "the token's aud does not name this gateway";
	const struct sl_config_app *app;
	uint64_t exp, nbf;

	if (is->iss && (!iss || strcmp(json_string_value(iss), is->iss)))
		return refuse(res, why, SL_AUTH_WRONG_ISSUER,
			      "the token's iss is not its issuer's configured issuer");

	/*
	 * RFC 7519 makes exp optional; sluice does not: a stolen token that
	 * never expires is valid forever, and connections are closed at exp.
	 */
	v = json_object_get(claims, "exp");
	if (!v)
		return refuse(res, why, SL_AUTH_MISSING_CLAIM,
			      "the token has no exp: tokens that never expire are refused");
	if (numeric_date(v, &exp))
		return refuse(res, why, SL_AUTH_MALFORMED,
			      "the token's exp is not a NumericDate (seconds since 1970)");
	/* RFC 7519 §4.1.4: valid only while now is before exp (plus the leeway for clock skew). */
	if (now_ns >= add_sat(exp, auth->leeway_ns))
		return refuse(res, why, SL_AUTH_EXPIRED, "the token has expired");
	v = json_object_get(claims, "nbf");
	if (v) {
		if (numeric_date(v, &nbf))
			return refuse(res, why, SL_AUTH_MALFORMED,
				      "the token's nbf is not a NumericDate (seconds since 1970)");
		/* RFC 7519 §4.1.5: not before nbf, less the leeway. */
		if (add_sat(now_ns, auth->leeway_ns) < nbf)
			return refuse(res, why, SL_AUTH_NOT_YET_VALID,
				      "the token is not valid yet (nbf is in the future)");
	}
	if (check_audience(json_object_get(claims, "aud"), is->audience, &msg, &reason))
		return refuse(res, why, reason, msg);

	v = json_object_get(claims, "sub");
	if (!v)
		return refuse(res, why, SL_AUTH_MISSING_CLAIM,
			      "the token has no sub naming the application");
	if (!json_is_string(v))
		return refuse(res, why, SL_AUTH_MALFORMED, "the token's sub is not a string");
	app = find_app(auth, json_string_value(v));
	if (!app)
		return refuse(res, why, SL_AUTH_UNKNOWN_APPLICATION,
			      "the token's sub names no configured application");

	v = json_object_get(claims, "scope");
	if (v && !json_is_string(v))
		return refuse(res, why, SL_AUTH_MALFORMED,
			      "the token's scope is not a space-separated string");
	if (v && parse_scope(json_string_value(v), res, why))
		return res->reason == SL_AUTH_INTERNAL ? -ENOMEM : -EACCES;

	res->app = app;
	res->method = SL_AUTH_METHOD_JWT;
	res->reason = SL_AUTH_OK;
	res->issuer = is->name;
	res->expires_ns = exp;
	return 0;
}

static int check_jwt(struct sl_auth *auth, const char *token, size_t len, uint64_t now_ns,
		     struct sl_auth_result *res, const char **why)
{
	const struct issuer *is;
	const char *msg = NULL;
	const json_t *iss;
	struct sl_jwt jwt;
	int err;

	err = sl_jwt_parse(token, len, &jwt, &msg);
	if (err == -EMSGSIZE)
		return refuse(res, why, SL_AUTH_TOO_LARGE, msg);
	if (err == -ENOTSUP)
		return refuse(res, why, SL_AUTH_ALG_NOT_ALLOWED, msg);
	if (err == -ENOMEM)
		return refuse(res, why, SL_AUTH_INTERNAL, msg);
	if (err)
		return refuse(res, why, SL_AUTH_MALFORMED, msg);

	if (auth->n_issuers == 0) {
		err = refuse(res, why, SL_AUTH_UNKNOWN_ISSUER,
			     "no token issuer is configured: use an API key");
		goto out;
	}
	iss = json_object_get(jwt.claims, "iss");
	if (iss && !json_is_string(iss)) {
		err = refuse(res, why, SL_AUTH_MALFORMED, "the token's iss is not a string");
		goto out;
	}
	is = pick_issuer(auth, iss ? json_string_value(iss) : NULL);
	if (!is) {
		err = refuse(res, why, SL_AUTH_UNKNOWN_ISSUER,
			     "the token's iss names no configured issuer");
		goto out;
	}
	/*
	 * The algorithm is the issuer's, not the token's (RFC 8725 §3.1): an
	 * HS256 token for an RS256 issuer, whose "secret" would be the public
	 * key anyone can read, stops here.
	 */
	if (jwt.alg != sl_jwt_key_alg(is->key)) {
		err = refuse(res, why, SL_AUTH_ALG_NOT_ALLOWED,
			     "the token's alg is not the one configured for its issuer");
		goto out;
	}
	err = sl_jwt_verify(&jwt, is->key);
	if (err == -ENOMEM) {
		err = refuse(res, why, SL_AUTH_INTERNAL, "out of memory");
		goto out;
	}
	if (err == -EPERM) {
		err = refuse(res, why, SL_AUTH_ALG_NOT_ALLOWED,
			     "the token's alg is not the one configured for its issuer");
		goto out;
	}
	if (err) {
		err = refuse(res, why, SL_AUTH_BAD_SIGNATURE,
			     "the token's signature does not verify");
		goto out;
	}
	/* Only now is anything in the claims believed. */
	err = check_claims(auth, is, jwt.claims, now_ns, res, why);
out:
	sl_jwt_fini(&jwt);
	return err;
}

/* RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]; the scheme is case-insensitive. */
static int check_authorization(struct sl_auth *auth, const char *v, size_t len, uint64_t now_ns,
			       struct sl_auth_result *res, const char **why)
{
	size_t scheme_len = 0, i;

	while (scheme_len < len && v[scheme_len] != ' ' && v[scheme_len] != '\t')
		scheme_len++;
	for (i = scheme_len; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	while (len > i && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (scheme_len == 6 && !strncasecmp(v, "Bearer", 6)) {
		if (i == len)
			return refuse(res, why, SL_AUTH_MALFORMED,
				      "the Authorization header has no token after Bearer");
		return check_jwt(auth, v + i, len - i, now_ns, res, why);
	}
	if (scheme_len == 6 && !strncasecmp(v, "ApiKey", 6)) {
		if (i == len)
			return refuse(res, why, SL_AUTH_MALFORMED,
				      "the Authorization header has no key after ApiKey");
		return check_key(auth, v + i, len - i, res, why);
	}
	return refuse(res, why, SL_AUTH_MALFORMED,
		      "the Authorization header must be \"Bearer JWT\" or \"ApiKey KEY\"");
}

int sl_auth_check(struct sl_auth *auth, enum sl_auth_source source, const char *value, size_t len,
		  uint64_t now_ns, struct sl_auth_result *res, const char **why)
{
	size_t dots = 0, i;

	memset(res, 0, sizeof(*res));
	if (!value || len == 0)
		return refuse(res, why, SL_AUTH_MISSING, "no credentials were presented");
	switch (source) {
	case SL_AUTH_SOURCE_AUTHORIZATION:
		return check_authorization(auth, value, len, now_ns, res, why);
	case SL_AUTH_SOURCE_API_KEY:
		return check_key(auth, value, len, res, why);
	case SL_AUTH_SOURCE_TOKEN:
		for (i = 0; i < len && dots < 3; i++)
			dots += value[i] == '.';
		if (dots == 2)
			return check_jwt(auth, value, len, now_ns, res, why);
		return check_key(auth, value, len, res, why);
	}
	return refuse(res, why, SL_AUTH_MALFORMED, "unknown credential source");
}

void sl_auth_result_fini(struct sl_auth_result *res)
{
	free(res->scope);
	memset(res, 0, sizeof(*res));
}

/* ---- Permissions ---------------------------------------------------------------------------- */

bool sl_auth_pattern_covers(const char *grant, const char *want)
{
	const char *g = grant, *w = want;

	for (;;) {
		const char *ge = strchr(g, '.'), *we = strchr(w, '.');
		size_t gl = ge ? (size_t)(ge - g) : strlen(g);
		size_t wl = we ? (size_t)(we - w) : strlen(w);

		/* `>` matches one or more tokens, and w has at least this one left. */
		if (gl == 1 && g[0] == '>')
			return true;
		/* Only `>` covers `>`: it can match any number of tokens. */
		if (wl == 1 && w[0] == '>')
			return false;
		/* `*` covers any single token, `*` included; anything else only itself. */
		if (!(gl == 1 && g[0] == '*') && (gl != wl || memcmp(g, w, gl)))
			return false;
		if (!ge || !we)
			return !ge && !we;
		g = ge + 1;
		w = we + 1;
	}
}

static bool any_covers(const char *const *grants, uint32_t n, const char *want)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (sl_auth_pattern_covers(grants[i], want))
			return true;
	return false;
}

bool sl_auth_allows(const struct sl_auth_result *res, bool publish, const char *topic_or_pattern)
{
	const struct sl_config_app *app = res ? res->app : NULL;

	if (!app || !topic_or_pattern ||
	    sl_topic_validate(topic_or_pattern, strlen(topic_or_pattern), !publish, NULL))
		return false;
	if (publish ? !any_covers(app->publish, app->n_publish, topic_or_pattern)
		    : !any_covers(app->subscribe, app->n_subscribe, topic_or_pattern))
		return false;
	/* A scope narrows (SPEC): with one, the topic needs both the application and the scope. */
	return !res->scoped ||
	       any_covers((const char *const *)res->scope, res->n_scope, topic_or_pattern);
}
