// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/node.h"

bool sl_node_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *sl_node_excerpt(const char *s, char *buf, size_t size)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] && o + 8 < size; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f) {
			o += snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			if (c == '"' || c == '\\')
				buf[o++] = '\\';
			buf[o++] = c;
		}
	}
	if (s[i])
		o += snprintf(buf + o, size - o, "...");
	snprintf(buf + o, size - o, "\"");
	return buf;
}

const char *sl_node_describe(const yaml_node_t *n, char *buf, size_t size)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (sl_node_is_null(n))
		return "nothing (null)";
	return sl_node_excerpt((const char *)n->data.scalar.value, buf, size);
}

/* vsnprintf: a cut key path is fine in a message, so no truncation warning is wanted. */
void sl_node_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* Names are short, so the O(n*m) table is one row on the stack. */
size_t sl_node_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[SL_CONFIG_MAX_NAME + 1], prev, tmp;

	if (la > SL_CONFIG_MAX_NAME || lb > SL_CONFIG_MAX_NAME)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

yaml_node_t *sl_node_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	yaml_node_t *found = NULL;
	yaml_node_pair_t *pair;

	if (map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			found = yaml_document_get_node(doc, pair->value);
	}
	return found;
}
