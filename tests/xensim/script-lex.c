/*
 * Lexing a script line into tokens (quoted strings with C escapes, `#`
 * comments) and reading argument values from them: numbers, expectations,
 * PCI addresses, DATA, errno names.  Every error is printed as
 * "NAME:LINE: message", the format the malformed-script tests check.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script-internal.h"

int
perr(const struct line_ctx *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: ", c->name, c->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * Unescape a C string literal starting after the opening quote at *pp into
 * out; on return *pp points after the closing quote.
 */
static int
lex_string(struct line_ctx *c, const char **pp, char *out, size_t *ret_len)
{
	const char *p = *pp;
	size_t n = 0;

	for (;;) {
		int ch = (unsigned char)*p++;
		int v, i;

		if (ch == '\0' || ch == '\n')
			return perr(c, "unterminated string");
		if (ch == '"')
			break;
		if (ch != '\\') {
			out[n++] = (char)ch;
			continue;
		}
		ch = (unsigned char)*p++;
		switch (ch) {
		case 'n':
			out[n++] = '\n';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 'a':
			out[n++] = '\a';
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case 'v':
			out[n++] = '\v';
			break;
		case 'e':
			out[n++] = 0x1b;
			break;
		case '\\':
		case '"':
		case '\'':
		case '?':
			out[n++] = (char)ch;
			break;
		case 'x':
			if (hexval(*p) < 0)
				return perr(c, "\\x without hex digits");
			v = 0;
			for (i = 0; i < 2 && hexval(*p) >= 0; i++)
				v = v * 16 + hexval(*p++);
			out[n++] = (char)v;
			break;
		default:
			if (ch < '0' || ch > '7')
				return perr(c, "unknown escape '\\%c'",
					    ch ? ch : '0');
			v = ch - '0';
			for (i = 1; i < 3 && *p >= '0' && *p <= '7'; i++)
				v = v * 8 + (*p++ - '0');
			if (v > 0xff)
				return perr(c, "octal escape out of range");
			out[n++] = (char)v;
			break;
		}
	}
	out[n] = '\0';
	*pp = p;
	*ret_len = n;
	return 0;
}

/* Split a line into tokens in scratch (at least strlen(line)+1 bytes). */
int
lex_line(struct line_ctx *c, const char *line, char *scratch)
{
	const char *p = line;
	char *out = scratch;
	int r;

	c->ntok = 0;
	for (;;) {
		struct tok *t;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			return 0;
		if (c->ntok == SCRIPT_MAX_TOKENS)
			return perr(c, "too many words on one line");
		t = &c->tok[c->ntok++];
		t->s = out;
		t->quoted = (*p == '"');
		if (t->quoted) {
			p++;
			r = lex_string(c, &p, out, &t->len);
			if (r < 0)
				return r;
			if (*p && !strchr(" \t\r\n#", *p))
				return perr(c, "garbage after closing quote");
		} else {
			t->len = 0;
			while (*p && !strchr(" \t\r\n#\"", *p))
				out[t->len++] = *p++;
			out[t->len] = '\0';
		}
		out += t->len + 1;
	}
}

/* --------------------------------------------------------- value parsing */

int
parse_u64(struct line_ctx *c, unsigned i, const char *what, uint64_t max,
	  uint64_t *ret)
{
	const struct tok *t;
	char *end;
	unsigned long long v;

	if (i >= c->ntok)
		return perr(c, "missing %s", what);
	t = &c->tok[i];
	if (t->quoted || t->len == 0 || t->s[0] == '-' || t->s[0] == '+')
		return perr(c, "invalid %s '%s'", what, t->s);
	errno = 0;
	v = strtoull(t->s, &end, 0);
	if (errno || *end)
		return perr(c, "invalid %s '%s'", what, t->s);
	if (v > max && max <= 4096)
		return perr(c, "%s %s out of range (max %" PRIu64 ")", what,
			    t->s, max);
	if (v > max)
		return perr(c, "%s %s out of range (max %#" PRIx64 ")", what,
			    t->s, max);
	*ret = v;
	return 0;
}

int
parse_s64(struct line_ctx *c, unsigned i, const char *what, int64_t *ret)
{
	const struct tok *t;
	char *end;
	long long v;

	if (i >= c->ntok)
		return perr(c, "missing %s", what);
	t = &c->tok[i];
	errno = 0;
	v = strtoll(t->s, &end, 0);
	if (t->quoted || t->len == 0 || errno || *end)
		return perr(c, "invalid %s '%s'", what, t->s);
	*ret = v;
	return 0;
}

int
expect_args(struct line_ctx *c, unsigned n, const char *usage)
{
	if (c->ntok != n)
		return perr(c, "usage: %s", usage);
	return 0;
}

/* Optional EXPECT at token i: "== V" or "& MASK == V". */
int
parse_expect(struct line_ctx *c, unsigned i, unsigned size,
	     struct script_cmd *cmd)
{
	uint64_t max = size_mask(size);
	int r;

	if (i == c->ntok)
		return 0;
	cmd->has_expect = true;
	cmd->mask = max;
	if (!strcmp(c->tok[i].s, "&") && !c->tok[i].quoted) {
		r = parse_u64(c, i + 1, "mask", max, &cmd->mask);
		if (r < 0)
			return r;
		i += 2;
	}
	if (i >= c->ntok || strcmp(c->tok[i].s, "==") || c->tok[i].quoted)
		return perr(c, "expected '== VALUE' or '& MASK == VALUE'");
	r = parse_u64(c, i + 1, "expected value", max, &cmd->expect);
	if (r < 0)
		return r;
	if (i + 2 != c->ntok)
		return perr(c, "unexpected '%s' after the expectation",
			    c->tok[i + 2].s);
	if (cmd->expect & ~cmd->mask)
		return perr(c,
			    "expected value %#" PRIx64
			    " has bits outside mask %#" PRIx64,
			    cmd->expect, cmd->mask);
	return 0;
}

/* BB:DD.F or SSSS:BB:DD.F (segment 0 only: CF8 cannot reach others). */
int
parse_bdf(struct line_ctx *c, unsigned i, uint32_t *ret_sbdf)
{
	const char *s;
	unsigned long v[4];
	unsigned n = 0;
	char *end;

	if (i >= c->ntok)
		return perr(c, "missing PCI address BB:DD.F");
	s = c->tok[i].s;
	for (;;) {
		if (n == 4 || hexval(*s) < 0)
			goto bad;
		v[n++] = strtoul(s, &end, 16);
		if (*end == ':') {
			s = end + 1;
			continue;
		}
		if (*end != '.')
			goto bad;
		s = end + 1;
		if (*s < '0' || *s > '7' || s[1])
			goto bad;
		v[n++] = (unsigned long)(*s - '0');
		break;
	}
	if (n == 4) {
		if (v[0] != 0)
			return perr(c, "PCI segment must be 0 for CF8 access");
		memmove(v, v + 1, sizeof(v[0]) * 3);
		n = 3;
	}
	if (n != 3 || v[0] > 0xff || v[1] > 0x1f)
		goto bad;
	*ret_sbdf = (uint32_t)(v[0] << 8 | v[1] << 3 | v[2]);
	return 0;
bad:
	return perr(c, "invalid PCI address '%s' (want BB:DD.F)", c->tok[i].s);
}

/* DATA: "text" with C escapes, or hex:0011aa. */
int
parse_data(struct line_ctx *c, unsigned i, uint8_t **ret, size_t *ret_len)
{
	const struct tok *t;
	uint8_t *buf;
	size_t n, k;

	if (i >= c->ntok)
		return perr(c, "missing DATA (\"text\" or hex:...)");
	t = &c->tok[i];
	if (t->quoted) {
		buf = malloc(t->len + 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, t->s, t->len + 1);
		*ret = buf;
		*ret_len = t->len;
		return 0;
	}
	if (strncmp(t->s, "hex:", 4))
		return perr(c, "invalid DATA '%s' (\"text\" or hex:...)", t->s);
	n = t->len - 4;
	if (n % 2)
		return perr(c, "odd number of hex digits in '%s'", t->s);
	buf = malloc(n / 2 + 1);
	if (!buf)
		return -ENOMEM;
	for (k = 0; k < n / 2; k++) {
		int hi = hexval(t->s[4 + 2 * k]);
		int lo = hexval(t->s[5 + 2 * k]);

		if (hi < 0 || lo < 0) {
			free(buf);
			return perr(c, "invalid hex digit in '%s'", t->s);
		}
		buf[k] = (uint8_t)(hi << 4 | lo);
	}
	buf[n / 2] = 0;
	*ret = buf;
	*ret_len = n / 2;
	return 0;
}

int
parse_text(struct line_ctx *c, unsigned i, const char *what, char **ret)
{
	if (i >= c->ntok)
		return perr(c, "missing %s", what);
	*ret = strdup(c->tok[i].s);
	return *ret ? 0 : -ENOMEM;
}

int
parse_level(struct line_ctx *c, unsigned i, bool *ret)
{
	if (i < c->ntok && !strcmp(c->tok[i].s, "high")) {
		*ret = true;
		return 0;
	}
	if (i < c->ntok && !strcmp(c->tok[i].s, "low")) {
		*ret = false;
		return 0;
	}
	return perr(c, "expected 'high' or 'low'");
}

static const struct {
	const char *name;
	int value;
} errno_names[] = {
	{ "EPERM", EPERM },
	{ "ENOENT", ENOENT },
	{ "ESRCH", ESRCH },
	{ "EINTR", EINTR },
	{ "EIO", EIO },
	{ "ENXIO", ENXIO },
	{ "E2BIG", E2BIG },
	{ "EBADF", EBADF },
	{ "EAGAIN", EAGAIN },
	{ "ENOMEM", ENOMEM },
	{ "EACCES", EACCES },
	{ "EFAULT", EFAULT },
	{ "EBUSY", EBUSY },
	{ "EEXIST", EEXIST },
	{ "ENODEV", ENODEV },
	{ "EINVAL", EINVAL },
	{ "ENOSPC", ENOSPC },
	{ "ERANGE", ERANGE },
	{ "ENOSYS", ENOSYS },
	{ "ENODATA", ENODATA },
	{ "EOPNOTSUPP", EOPNOTSUPP },
	{ "ETIMEDOUT", ETIMEDOUT },
	{ "ENOTTY", ENOTTY },
};

int
script_errno_by_name(const char *name)
{
	for (size_t k = 0; k < sizeof(errno_names) / sizeof(errno_names[0]);
	     k++)
		if (!strcmp(errno_names[k].name, name))
			return errno_names[k].value;
	return -EINVAL;
}

int
parse_errno(struct line_ctx *c, unsigned i, int *ret)
{
	uint64_t v;
	int e;

	if (i < c->ntok && isalpha((unsigned char)c->tok[i].s[0])) {
		e = script_errno_by_name(c->tok[i].s);
		if (e < 0)
			return perr(c, "unknown errno name '%s'", c->tok[i].s);
		*ret = e;
		return 0;
	}
	if (parse_u64(c, i, "errno", 4095, &v) < 0)
		return -EINVAL;
	if (v == 0)
		return perr(c, "errno must not be 0");
	*ret = (int)v;
	return 0;
}
