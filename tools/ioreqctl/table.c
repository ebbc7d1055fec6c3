/*
 * Column alignment for ioreqctl's human-readable output.  Widths are
 * counted in UTF-8 characters (bytes that do not continue a sequence),
 * which aligns every name a config allows; wide characters are not
 * handled.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
table_init(struct table *t, size_t ncols, unsigned right_mask,
	   const char *const *header)
{
	*t = (struct table){ .ncols = ncols > TABLE_COLS_MAX ? TABLE_COLS_MAX :
							       ncols,
			     .right_mask = right_mask };
	if (header)
		(void)table_add(t, header);
}

static char *
clean_copy(const char *s)
{
	char *d = strdup(s ? s : "-");

	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

int
table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap_rows = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = clean_copy(cells[i]);
		if (!row[i]) {
			while (i-- > 0)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

int
table_add_kv(struct table *t, const char *key, const char *value)
{
	size_t len = strlen(key);
	char *k = malloc(len + 2);
	int r;

	if (!k)
		return -ENOMEM;
	memcpy(k, key, len);
	memcpy(k + len, ":", 2);
	r = table_add(t, (const char *const[]){ k, value });
	free(k);
	return r;
}

static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void
table_print(const struct table *t, FILE *f)
{
	size_t w[TABLE_COLS_MAX] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t cw = width(t->cells[r * t->ncols + i]);
			if (cw > w[i])
				w[i] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t pad = w[i] - width(s);
			bool last = i + 1 == t->ncols;

			if (i > 0)
				fputs("  ", f);
			if (t->right_mask & (1u << i))
				fprintf(f, "%*s", (int)pad, "");
			fputs(s, f);
			if (!(t->right_mask & (1u << i)) && !last)
				fprintf(f, "%*s", (int)pad, "");
		}
		fputc('\n', f);
	}
}

void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct table){ 0 };
}

char *
table_value(json_t *v)
{
	char buf[64];

	if (!v)
		return strdup("-");
	switch (json_typeof(v)) {
	case JSON_STRING:
		return clean_copy(json_string_value(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld",
			 (long long)json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.1f", json_real_value(v));
		return strdup(buf);
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_NULL:
		return strdup("-");
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		char *c = s ? clean_copy(s) : NULL;
		free(s);
		return c;
	}
	}
}
