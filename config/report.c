/*
 * Error lines for config/: "NAME:LINE:COL: message", one per error, so
 * editors and the golden tests in tests/config/ can consume them directly.
 */
#include "config/report.h"

#include <stdarg.h>

void
cfg_report(struct cfg_report *r, struct cfg_mark mark, const char *fmt, ...)
{
	va_list ap;

	r->count++;
	if (!r->out || r->count > CFG_REPORT_MAX + 1)
		return;
	if (r->count == CFG_REPORT_MAX + 1) {
		(void)fprintf(r->out,
			      "%s: too many errors, not showing the "
			      "rest\n",
			      r->name);
		return;
	}
	if (mark.line)
		(void)fprintf(r->out, "%s:%u:%u: ", r->name, mark.line,
			      mark.col);
	else
		(void)fprintf(r->out, "%s: ", r->name);
	va_start(ap, fmt);
	(void)vfprintf(r->out, fmt, ap);
	va_end(ap);
	(void)fputc('\n', r->out);
}

char *
cfg_quote(const char *s, size_t len, char buf[static CFG_QUOTE_MAX])
{
	/* Room for the closing quote, "..." and the NUL. */
	const size_t limit = CFG_QUOTE_MAX - 6;
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 > limit) {
			buf[o++] = '.';
			buf[o++] = '.';
			buf[o++] = '.';
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			(void)snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			/* UTF-8 sequences pass through unchanged. */
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

char *
cfg_label(unsigned index, const char *id, char buf[static CFG_LABEL_MAX])
{
	if (id && id[0])
		(void)snprintf(buf, CFG_LABEL_MAX, "devices[%u] (%s)", index,
			       id);
	else
		(void)snprintf(buf, CFG_LABEL_MAX, "devices[%u]", index);
	return buf;
}
