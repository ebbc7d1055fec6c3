/*
 * Error reporting shared by the config parser and validator: every error is
 * one line "NAME:LINE:COL: message" (or "NAME: message" when there is no
 * position), written to a caller-supplied stream and counted.
 */
#ifndef IOREQD_CONFIG_REPORT_H
#define IOREQD_CONFIG_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "config/cfg.h"

struct cfg_report {
	const char *name; /* file name as given by the caller */
	FILE *out;	  /* may be NULL: errors are only counted */
	unsigned count;	  /* errors reported so far */
};

/*
 * Output stops after this many errors (one last line says so), so that a
 * huge or alias-heavy file cannot flood the terminal or the journal.
 */
#define CFG_REPORT_MAX 50

/*
 * Report one error at `mark` (line 0 = no position).  The message must not
 * contain a newline; quote untrusted text with cfg_quote() first.
 */
void cfg_report(struct cfg_report *r, struct cfg_mark mark, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));

/* Longest quoted text cfg_quote() produces, including quotes and NUL. */
#define CFG_QUOTE_MAX 160

/*
 * Write `s` (len bytes, may contain NUL or control bytes) into buf as a
 * double-quoted, single-line string: backslash and quote escaped,
 * non-printable bytes as \xNN, cut with "..." when too long.  Returns buf.
 */
char *cfg_quote(const char *s, size_t len, char buf[static CFG_QUOTE_MAX]);

/* "devices[N] (ID)" or "devices[N]" when id is empty.  Returns buf. */
#define CFG_LABEL_MAX (32 + CFG_ID_MAX)
char *cfg_label(unsigned index, const char *id, char buf[static CFG_LABEL_MAX]);

#endif
