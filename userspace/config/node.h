/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Describing YAML nodes in messages, shared by the loaders of the config
 * (config.c), the plans (policy.c) and the issuers (auth.c), so that every
 * FILE:LINE:COL message quotes values and names key paths the same way.
 */
#ifndef SLUICE_CONFIG_NODE_H
#define SLUICE_CONFIG_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

/* Room for a quoted excerpt of user text: messages stay one readable line. */
#define SL_NODE_EXCERPT_BUF 64
/* Key paths in messages ("applications[3].api_keys[0].sha256"); longer ones are cut. */
#define SL_NODE_PATH_BUF 160

/* A plain scalar that YAML reads as null: empty, ~, null, Null, NULL. */
bool sl_node_is_null(const yaml_node_t *n);

/* s quoted, control characters escaped, cut with "..." to fit size. Returns buf. */
const char *sl_node_excerpt(const char *s, char *buf, size_t size);

/* "a mapping", "a list", "nothing (null)" or the scalar's excerpt (in buf). */
const char *sl_node_describe(const yaml_node_t *n, char *buf, size_t size);

/*
 * Edit distance between a and b, for "did you mean" (keys, plan names):
 * SIZE_MAX when either is longer than a name may be (SL_CONFIG_MAX_NAME).
 */
size_t sl_node_distance(const char *a, const char *b);

/*
 * The value of key in the mapping node map of doc (the last one if the key is
 * repeated: the config loader reports repeats), or NULL when map is not a
 * mapping or has no such key.
 */
yaml_node_t *sl_node_get(yaml_document_t *doc, const yaml_node_t *map, const char *key);

/* Formats a key path into buf; a path cut to size is fine in a message. */
void sl_node_path(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
