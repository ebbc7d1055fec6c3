/*
 * Aligned text output for people: tables with a header row, and
 * "key: value" lists, both with columns padded to the widest cell.
 * Cells are copied with control characters replaced by '?', so nothing
 * the daemon sends can drive the terminal.
 */
#ifndef IOREQCTL_TABLE_H
#define IOREQCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define TABLE_COLS_MAX 8

struct table {
	size_t ncols;
	unsigned right_mask; /* bit i: column i is right-aligned (numbers) */
	size_t nrows;
	size_t cap_rows;
	char **cells; /* nrows * ncols owned strings */
};

/* A table of ncols columns (at most TABLE_COLS_MAX); header, when not
 * NULL, is its first row. */
void table_init(struct table *t, size_t ncols, unsigned right_mask,
		const char *const *header);
/* Appends a row of ncols cells (NULL cells print as "-").  0 or -ENOMEM. */
int table_add(struct table *t, const char *const *cells);
/* Appends a two-column "key:" "value" row, for key-value lists. */
int table_add_kv(struct table *t, const char *key, const char *value);
/* Prints the rows, two spaces between columns, no trailing blanks. */
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* A JSON value as a person reads it: strings as they are (cleaned),
 * integers in decimal, reals with up to one decimal, true/false as
 * yes/no, null as "-", arrays and objects as compact JSON.  Returns a
 * malloc'd string or NULL on ENOMEM. */
char *table_value(json_t *v);

#endif
