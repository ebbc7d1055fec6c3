/*
 * The xensim script interpreter: the guest side of the simulator.
 *
 * Parsing and running are separate phases: script_parse() turns the whole
 * text into an array of commands and rejects any malformed line before the
 * device model is started; script_run() then executes the commands against
 * the hypervisor core (hv.h).  The language is documented, and is a
 * contract, in script-language.md.  Left out on purpose: loops or variables
 * (only the `repeat N COMMAND` prefix), more than one client socket.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "script.h"

#define SCRIPT_MAX_TOKENS 16
#define SCRIPT_MAX_REPEAT 100000u
#define SCRIPT_IRQ_WAIT_MS 2000u
#define SCRIPT_FILE_WAIT_MS 2000u
#define SCRIPT_CONNECT_WAIT_MS 2000u
#define SCRIPT_MAX_DATA (1u << 20)	/* memread/memset/file/socket bytes */
#define SCRIPT_MAX_SLEEP_MS 600000u

enum script_op {
	OP_VCPU,
	OP_PIO,
	OP_MMIO,
	OP_CFG,
	OP_MEMWRITE,
	OP_MEMREAD,
	OP_MEMSET,
	OP_REP,
	OP_STD,
	OP_CLD,
	OP_BUFWRITE,
	OP_TIMEOFFSET,
	OP_INVALIDATE,
	OP_EXPECT_IRQ,
	OP_EXPECT_NO_IRQ,
	OP_GRANT,
	OP_UNGRANT,
	OP_FAIL_DMOP,
	OP_SLEEP,
	OP_FUZZ,
	OP_DESTROY,
	OP_BENCH,
	OP_ECHO,
	OP_WAIT_FILE,
	OP_EXPECT_FILE,
	OP_CONNECT,
	OP_SEND,
	OP_SOCK_EXPECT,
	OP_SOCK_CLOSE,
	OP_PCI_SCAN,
	OP_PCI_SETUP,
	OP_EXPECT_IDLE,
	OP_COUNT_RESET,
	OP_EXPECT_COUNT,
	_OP_COUNT,
};

struct script_cmd {
	enum script_op op;
	unsigned line;
	const char *verb;		/* static keyword, for messages */
	unsigned size;			/* access size in bytes */
	bool is_read;
	bool flag;			/* grant: read-only */
	uint64_t addr;			/* port, gpa, sbdf, ref, ... */
	uint64_t value;			/* write value, count, len, ms ... */
	uint64_t off;			/* cfg offset, wait timeout ms */
	bool has_expect;
	uint64_t mask;
	uint64_t expect;
	struct hv_injection irq;
	uint8_t *data;			/* DATA argument (owned) */
	size_t data_len;
	bool has_data;
	char *str;			/* path, dm_op name, text (owned) */
	int err;			/* fail-dmop errno */
	struct bench_io_params bench;
};

struct script {
	char *name;
	struct script_cmd *cmds;
	size_t count;
	size_t cap;
	unsigned timeout_ms;
	/* runtime state */
	unsigned vcpu;
	bool df;
	bool destroyed;
	bool aborted;
	unsigned failures;
	int sock;
	uint8_t *rx;
	size_t rx_len;
	uint64_t count_base[HV_COUNTER_MAX];	/* values at count-reset */
};

struct tok {
	char *s;	/* NUL-terminated; unescaped contents if quoted */
	size_t len;
	bool quoted;
};

struct line_ctx {
	const char *name;
	unsigned line;
	const struct script_limits *lim;
	struct tok tok[SCRIPT_MAX_TOKENS];
	unsigned ntok;
};

static int
perr(const struct line_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
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

/* ---------------------------------------------------------------- lexing */

static int
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
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'a': out[n++] = '\a'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'v': out[n++] = '\v'; break;
		case 'e': out[n++] = 0x1b; break;
		case '\\': case '"': case '\'': case '?':
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
static int
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

static int
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

static int
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

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static int
expect_args(struct line_ctx *c, unsigned n, const char *usage)
{
	if (c->ntok != n)
		return perr(c, "usage: %s", usage);
	return 0;
}

/* Optional EXPECT at token i: "== V" or "& MASK == V". */
static int
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
		return perr(c, "expected value %#" PRIx64
			    " has bits outside mask %#" PRIx64,
			    cmd->expect, cmd->mask);
	return 0;
}

/* BB:DD.F or SSSS:BB:DD.F (segment 0 only: CF8 cannot reach others). */
static int
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
		if (*end == ':' ) {
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
	return perr(c, "invalid PCI address '%s' (want BB:DD.F)",
		    c->tok[i].s);
}

/* DATA: "text" with C escapes, or hex:0011aa. */
static int
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
		return perr(c, "invalid DATA '%s' (\"text\" or hex:...)",
			    t->s);
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

static int
parse_text(struct line_ctx *c, unsigned i, const char *what, char **ret)
{
	if (i >= c->ntok)
		return perr(c, "missing %s", what);
	*ret = strdup(c->tok[i].s);
	return *ret ? 0 : -ENOMEM;
}

static int
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
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESRCH", ESRCH },
	{ "EINTR", EINTR }, { "EIO", EIO }, { "ENXIO", ENXIO },
	{ "E2BIG", E2BIG }, { "EBADF", EBADF }, { "EAGAIN", EAGAIN },
	{ "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
	{ "EBUSY", EBUSY }, { "EEXIST", EEXIST }, { "ENODEV", ENODEV },
	{ "EINVAL", EINVAL }, { "ENOSPC", ENOSPC }, { "ERANGE", ERANGE },
	{ "ENOSYS", ENOSYS }, { "ENODATA", ENODATA },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "ETIMEDOUT", ETIMEDOUT },
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

static int
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

/* ------------------------------------------------------ command parsers */

typedef int (*parse_fn)(struct line_ctx *c, struct script_cmd *cmd);

struct verb {
	const char *name;
	enum script_op op;
	unsigned size;
	bool is_read;
	parse_fn parse;
};

static int
parse_vcpu(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "vcpu N");

	if (r < 0)
		return r;
	return parse_u64(c, 1, "vCPU", c->lim->vcpus - 1, &cmd->value);
}

static int
parse_pio(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = parse_u64(c, 1, "port", 0xffff, &cmd->addr);

	if (r < 0)
		return r;
	if (cmd->is_read)
		return parse_expect(c, 2, cmd->size, cmd);
	r = expect_args(c, 3, "outX PORT VALUE");
	if (r < 0)
		return r;
	return parse_u64(c, 2, "value", size_mask(cmd->size), &cmd->value);
}

static int
parse_mmio(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = parse_u64(c, 1, "address", UINT64_MAX, &cmd->addr);

	if (r < 0)
		return r;
	if (cmd->is_read)
		return parse_expect(c, 2, cmd->size, cmd);
	r = expect_args(c, 3, "writeX ADDR VALUE");
	if (r < 0)
		return r;
	return parse_u64(c, 2, "value", size_mask(cmd->size), &cmd->value);
}

static int
parse_cfg(struct line_ctx *c, struct script_cmd *cmd)
{
	uint32_t sbdf;
	int r = parse_bdf(c, 1, &sbdf);

	if (r < 0)
		return r;
	cmd->addr = sbdf;
	r = parse_u64(c, 2, "config offset", 0xff, &cmd->off);
	if (r < 0)
		return r;
	if (cmd->is_read)
		return parse_expect(c, 3, cmd->size, cmd);
	r = expect_args(c, 4, "cfgwriteX BB:DD.F OFF VALUE");
	if (r < 0)
		return r;
	return parse_u64(c, 3, "value", size_mask(cmd->size), &cmd->value);
}

static int
parse_memwrite(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 3, "memwrite GPA DATA");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "address", UINT64_MAX, &cmd->addr);
	if (r < 0)
		return r;
	return parse_data(c, 2, &cmd->data, &cmd->data_len);
}

static int
parse_memread(struct line_ctx *c, struct script_cmd *cmd)
{
	int r;

	if (c->ntok != 3 && c->ntok != 5)
		return perr(c, "usage: memread GPA LEN [== DATA]");
	r = parse_u64(c, 1, "address", UINT64_MAX, &cmd->addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 2, "length", SCRIPT_MAX_DATA, &cmd->value);
	if (r < 0)
		return r;
	if (c->ntok == 3)
		return 0;
	if (strcmp(c->tok[3].s, "==") || c->tok[3].quoted)
		return perr(c, "expected '== DATA'");
	r = parse_data(c, 4, &cmd->data, &cmd->data_len);
	if (r < 0)
		return r;
	cmd->has_data = true;
	if (cmd->data_len != cmd->value)
		return perr(c, "DATA has %zu bytes but LEN is %" PRIu64,
			    cmd->data_len, cmd->value);
	return 0;
}

static int
parse_memset(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 4, "memset GPA LEN BYTE");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "address", UINT64_MAX, &cmd->addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 2, "length", UINT64_MAX, &cmd->value);
	if (r < 0)
		return r;
	return parse_u64(c, 3, "byte", 0xff, &cmd->off);
}

static int
parse_rep(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 4, "insX|outsX PORT GPA COUNT");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "port", 0xffff, &cmd->addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 2, "address", UINT64_MAX, &cmd->off);
	if (r < 0)
		return r;
	r = parse_u64(c, 3, "count", UINT32_MAX, &cmd->value);
	if (r < 0)
		return r;
	if (cmd->value == 0)
		return perr(c, "count must not be 0");
	return 0;
}

static int
parse_none(struct line_ctx *c, struct script_cmd *cmd)
{
	return expect_args(c, 1, cmd->verb);
}

static int
parse_bufwrite(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 3, "bufwriteX ADDR VALUE");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "address", 0xfffff, &cmd->addr);
	if (r < 0)
		return r;
	if (cmd->addr + cmd->size > 0x100000)
		return perr(c, "buffered write must lie below 1 MiB");
	return parse_u64(c, 2, "value", size_mask(cmd->size), &cmd->value);
}

static int
parse_timeoffset(struct line_ctx *c, struct script_cmd *cmd)
{
	int64_t v = 0;
	int r = expect_args(c, 2, "timeoffset SECONDS");

	if (r < 0)
		return r;
	r = parse_s64(c, 1, "seconds", &v);
	cmd->value = (uint64_t)v;
	return r;
}

static int
parse_expect_irq(struct line_ctx *c, struct script_cmd *cmd)
{
	uint64_t n;
	int r = expect_args(c, 4, "expect-irq isa N high|low");

	if (r < 0)
		return r;
	if (strcmp(c->tok[1].s, "isa"))
		return perr(c, "expected 'isa', got '%s'", c->tok[1].s);
	r = parse_u64(c, 2, "ISA IRQ", 15, &n);
	if (r < 0)
		return r;
	cmd->irq.kind = HV_IRQ_ISA;
	cmd->irq.a = (uint32_t)n;
	return parse_level(c, 3, &cmd->irq.level);
}

static int
parse_expect_intx(struct line_ctx *c, struct script_cmd *cmd)
{
	uint32_t sbdf;
	const char *pin;
	int r = expect_args(c, 4, "expect-intx BB:DD.F A|B|C|D high|low");

	if (r < 0)
		return r;
	r = parse_bdf(c, 1, &sbdf);
	if (r < 0)
		return r;
	pin = c->tok[2].s;
	if (strlen(pin) != 1 || pin[0] < 'A' || pin[0] > 'D')
		return perr(c, "invalid INTx pin '%s' (A-D)", pin);
	cmd->irq.kind = HV_IRQ_INTX;
	/* set_pci_intx_level carries no function number */
	cmd->irq.a = sbdf & ~7u;
	cmd->irq.b = (uint32_t)(pin[0] - 'A');
	return parse_level(c, 3, &cmd->irq.level);
}

static int
parse_expect_msi(struct line_ctx *c, struct script_cmd *cmd)
{
	uint64_t data;
	int r = expect_args(c, 3, "expect-msi ADDR DATA");

	if (r < 0)
		return r;
	cmd->irq.kind = HV_IRQ_MSI;
	r = parse_u64(c, 1, "MSI address", UINT64_MAX, &cmd->irq.addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 2, "MSI data", UINT32_MAX, &data);
	cmd->irq.data = (uint32_t)data;
	return r;
}

static int
parse_expect_spi(struct line_ctx *c, struct script_cmd *cmd)
{
	uint64_t n;
	int r = expect_args(c, 3, "expect-spi N high|low");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "SPI", UINT32_MAX, &n);
	if (r < 0)
		return r;
	cmd->irq.kind = HV_IRQ_SPI;
	cmd->irq.a = (uint32_t)n;
	return parse_level(c, 2, &cmd->irq.level);
}

static int
parse_grant(struct line_ctx *c, struct script_cmd *cmd)
{
	int r;

	if (c->ntok != 3 && c->ntok != 4)
		return perr(c, "usage: grant REF GFN [ro]");
	r = parse_u64(c, 1, "grant ref", UINT32_MAX, &cmd->addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 2, "gfn", UINT64_MAX, &cmd->value);
	if (r < 0)
		return r;
	if (c->ntok == 4) {
		if (strcmp(c->tok[3].s, "ro"))
			return perr(c, "expected 'ro', got '%s'", c->tok[3].s);
		cmd->flag = true;
	}
	return 0;
}

static int
parse_ungrant(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "ungrant REF");

	if (r < 0)
		return r;
	return parse_u64(c, 1, "grant ref", UINT32_MAX, &cmd->addr);
}

static int
parse_fail_dmop(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 3, "fail-dmop NAME ERRNO");

	if (r < 0)
		return r;
	r = parse_errno(c, 2, &cmd->err);
	if (r < 0)
		return r;
	return parse_text(c, 1, "dm_op name", &cmd->str);
}

static int
parse_sleep(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "sleep MS");

	if (r < 0)
		return r;
	return parse_u64(c, 1, "milliseconds", SCRIPT_MAX_SLEEP_MS,
			 &cmd->value);
}

static int
parse_expect_idle(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "expect-idle MS");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "milliseconds", SCRIPT_MAX_SLEEP_MS, &cmd->value);
	if (r == 0 && cmd->value == 0)
		return perr(c, "expect-idle needs at least 1 ms");
	return r;
}

static int
parse_fuzz(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 3, "fuzz-ioreq SEED COUNT");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "seed", UINT64_MAX, &cmd->value);
	if (r < 0)
		return r;
	return parse_u64(c, 2, "count", 1000000, &cmd->addr);
}

static int
parse_bench(struct line_ctx *c, struct script_cmd *cmd)
{
	struct bench_io_params *b = &cmd->bench;
	uint64_t v;
	int r = expect_args(c, 7,
		"bench-io VCPUS COUNT pio|mmio read|write ADDR SIZE");

	if (r < 0)
		return r;
	r = parse_u64(c, 1, "vCPU count", c->lim->vcpus, &v);
	if (r < 0)
		return r;
	if (v == 0)
		return perr(c, "vCPU count must not be 0");
	b->vcpus = (unsigned)v;
	r = parse_u64(c, 2, "count", BENCH_IO_MAX_COUNT, &b->count);
	if (r < 0)
		return r;
	if (b->count == 0)
		return perr(c, "count must not be 0");
	if (!strcmp(c->tok[3].s, "pio") || !strcmp(c->tok[3].s, "mmio"))
		b->mmio = !strcmp(c->tok[3].s, "mmio");
	else
		return perr(c, "expected 'pio' or 'mmio', got '%s'",
			    c->tok[3].s);
	if (!strcmp(c->tok[4].s, "read") || !strcmp(c->tok[4].s, "write"))
		b->is_read = !strcmp(c->tok[4].s, "read");
	else
		return perr(c, "expected 'read' or 'write', got '%s'",
			    c->tok[4].s);
	r = parse_u64(c, 5, "address", b->mmio ? UINT64_MAX : 0xffff,
		      &b->addr);
	if (r < 0)
		return r;
	r = parse_u64(c, 6, "size", 8, &v);
	if (r < 0)
		return r;
	if ((v != 1 && v != 2 && v != 4 && v != 8) || (!b->mmio && v == 8))
		return perr(c, "invalid size %" PRIu64 " (1, 2, 4%s)", v,
			    b->mmio ? " or 8" : "");
	b->size = (unsigned)v;
	return 0;
}

static int
parse_echo(struct line_ctx *c, struct script_cmd *cmd)
{
	size_t len = 0;
	unsigned i;
	char *s;

	for (i = 1; i < c->ntok; i++)
		len += c->tok[i].len + 1;
	s = calloc(1, len + 1);
	if (!s)
		return -ENOMEM;
	for (i = 1; i < c->ntok; i++) {
		if (i > 1)
			strcat(s, " ");
		strcat(s, c->tok[i].s);
	}
	cmd->str = s;
	return 0;
}

static int
parse_wait_file(struct line_ctx *c, struct script_cmd *cmd)
{
	int r;

	if (c->ntok != 3 && c->ntok != 4)
		return perr(c, "usage: wait-file PATH \"text\" [MS]");
	cmd->off = SCRIPT_FILE_WAIT_MS;
	if (c->ntok == 4) {
		r = parse_u64(c, 3, "milliseconds", SCRIPT_MAX_SLEEP_MS,
			      &cmd->off);
		if (r < 0)
			return r;
	}
	r = parse_data(c, 2, &cmd->data, &cmd->data_len);
	if (r < 0)
		return r;
	if (cmd->data_len == 0)
		return perr(c, "empty text");
	return parse_text(c, 1, "path", &cmd->str);
}

static int
parse_expect_file(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 4, "expect-file PATH == DATA");

	if (r < 0)
		return r;
	if (strcmp(c->tok[2].s, "==") || c->tok[2].quoted)
		return perr(c, "expected '== DATA'");
	r = parse_data(c, 3, &cmd->data, &cmd->data_len);
	if (r < 0)
		return r;
	return parse_text(c, 1, "path", &cmd->str);
}

static int
parse_connect(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "connect-socket PATH");

	if (r < 0)
		return r;
	if (c->tok[1].len >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return perr(c, "socket path too long");
	return parse_text(c, 1, "path", &cmd->str);
}

static int
parse_send(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 2, "socket-send DATA");

	if (r < 0)
		return r;
	return parse_data(c, 1, &cmd->data, &cmd->data_len);
}

static int
parse_sock_expect(struct line_ctx *c, struct script_cmd *cmd)
{
	int r;

	if (c->ntok != 2 && c->ntok != 3)
		return perr(c, "usage: socket-expect DATA [MS]");
	cmd->off = SCRIPT_FILE_WAIT_MS;
	if (c->ntok == 3) {
		r = parse_u64(c, 2, "milliseconds", SCRIPT_MAX_SLEEP_MS,
			      &cmd->off);
		if (r < 0)
			return r;
	}
	r = parse_data(c, 1, &cmd->data, &cmd->data_len);
	if (r < 0)
		return r;
	if (cmd->data_len == 0)
		return perr(c, "empty text");
	return 0;
}

/* pci-scan [== "BB:DD.F VVVV:DDDD ..."] */
static int
parse_pci_scan(struct line_ctx *c, struct script_cmd *cmd)
{
	if (c->ntok == 1)
		return 0;
	if (c->ntok != 3 || strcmp(c->tok[1].s, "==") || c->tok[1].quoted ||
	    !c->tok[2].quoted)
		return perr(c, "usage: pci-scan [== \"BB:DD.F VVVV:DDDD ...\"]");
	cmd->has_expect = true;
	return parse_text(c, 2, "expected function list", &cmd->str);
}

/* expect-count NAME ==|<= N: addr = counter id, flag = "<=". */
static int
parse_expect_count(struct line_ctx *c, struct script_cmd *cmd)
{
	int r = expect_args(c, 4, "expect-count NAME ==|<= N");
	int id;

	if (r < 0)
		return r;
	id = hv_counter_id(c->tok[1].s);
	if (id < 0)
		return perr(c, "unknown counter '%s'", c->tok[1].s);
	cmd->addr = (uint64_t)id;
	if (c->tok[2].quoted || (strcmp(c->tok[2].s, "==") &&
				 strcmp(c->tok[2].s, "<=")))
		return perr(c, "usage: expect-count NAME ==|<= N");
	cmd->flag = c->tok[2].s[0] == '<';
	r = parse_text(c, 1, "counter name", &cmd->str);
	if (r < 0)
		return r;
	return parse_u64(c, 3, "count", UINT64_MAX, &cmd->value);
}

static const struct verb verbs[] = {
	{ "vcpu", OP_VCPU, 0, false, parse_vcpu },
	{ "outb", OP_PIO, 1, false, parse_pio },
	{ "outw", OP_PIO, 2, false, parse_pio },
	{ "outl", OP_PIO, 4, false, parse_pio },
	{ "inb", OP_PIO, 1, true, parse_pio },
	{ "inw", OP_PIO, 2, true, parse_pio },
	{ "inl", OP_PIO, 4, true, parse_pio },
	{ "writeb", OP_MMIO, 1, false, parse_mmio },
	{ "writew", OP_MMIO, 2, false, parse_mmio },
	{ "writel", OP_MMIO, 4, false, parse_mmio },
	{ "writeq", OP_MMIO, 8, false, parse_mmio },
	{ "readb", OP_MMIO, 1, true, parse_mmio },
	{ "readw", OP_MMIO, 2, true, parse_mmio },
	{ "readl", OP_MMIO, 4, true, parse_mmio },
	{ "readq", OP_MMIO, 8, true, parse_mmio },
	{ "cfgreadb", OP_CFG, 1, true, parse_cfg },
	{ "cfgreadw", OP_CFG, 2, true, parse_cfg },
	{ "cfgreadl", OP_CFG, 4, true, parse_cfg },
	{ "cfgwriteb", OP_CFG, 1, false, parse_cfg },
	{ "cfgwritew", OP_CFG, 2, false, parse_cfg },
	{ "cfgwritel", OP_CFG, 4, false, parse_cfg },
	{ "memwrite", OP_MEMWRITE, 0, false, parse_memwrite },
	{ "memread", OP_MEMREAD, 0, true, parse_memread },
	{ "memset", OP_MEMSET, 0, false, parse_memset },
	{ "outsb", OP_REP, 1, false, parse_rep },
	{ "outsw", OP_REP, 2, false, parse_rep },
	{ "outsl", OP_REP, 4, false, parse_rep },
	{ "insb", OP_REP, 1, true, parse_rep },
	{ "insw", OP_REP, 2, true, parse_rep },
	{ "insl", OP_REP, 4, true, parse_rep },
	{ "std", OP_STD, 0, false, parse_none },
	{ "cld", OP_CLD, 0, false, parse_none },
	{ "bufwriteb", OP_BUFWRITE, 1, false, parse_bufwrite },
	{ "bufwritew", OP_BUFWRITE, 2, false, parse_bufwrite },
	{ "bufwritel", OP_BUFWRITE, 4, false, parse_bufwrite },
	{ "bufwriteq", OP_BUFWRITE, 8, false, parse_bufwrite },
	{ "timeoffset", OP_TIMEOFFSET, 0, false, parse_timeoffset },
	{ "invalidate", OP_INVALIDATE, 0, false, parse_none },
	{ "expect-irq", OP_EXPECT_IRQ, 0, false, parse_expect_irq },
	{ "expect-intx", OP_EXPECT_IRQ, 0, false, parse_expect_intx },
	{ "expect-msi", OP_EXPECT_IRQ, 0, false, parse_expect_msi },
	{ "expect-spi", OP_EXPECT_IRQ, 0, false, parse_expect_spi },
	{ "expect-no-irq", OP_EXPECT_NO_IRQ, 0, false, parse_none },
	{ "grant", OP_GRANT, 0, false, parse_grant },
	{ "ungrant", OP_UNGRANT, 0, false, parse_ungrant },
	{ "fail-dmop", OP_FAIL_DMOP, 0, false, parse_fail_dmop },
	{ "sleep", OP_SLEEP, 0, false, parse_sleep },
	{ "expect-idle", OP_EXPECT_IDLE, 0, false, parse_expect_idle },
	{ "fuzz-ioreq", OP_FUZZ, 0, false, parse_fuzz },
	{ "destroy-domain", OP_DESTROY, 0, false, parse_none },
	{ "bench-io", OP_BENCH, 0, false, parse_bench },
	{ "echo", OP_ECHO, 0, false, parse_echo },
	{ "wait-file", OP_WAIT_FILE, 0, false, parse_wait_file },
	{ "expect-file", OP_EXPECT_FILE, 0, false, parse_expect_file },
	{ "connect-socket", OP_CONNECT, 0, false, parse_connect },
	{ "socket-send", OP_SEND, 0, false, parse_send },
	{ "socket-expect", OP_SOCK_EXPECT, 0, false, parse_sock_expect },
	{ "socket-close", OP_SOCK_CLOSE, 0, false, parse_none },
	{ "pci-scan", OP_PCI_SCAN, 0, true, parse_pci_scan },
	{ "pci-setup", OP_PCI_SETUP, 0, false, parse_none },
	{ "count-reset", OP_COUNT_RESET, 0, false, parse_none },
	{ "expect-count", OP_EXPECT_COUNT, 0, false, parse_expect_count },
};

static void
cmd_clear(struct script_cmd *cmd)
{
	free(cmd->data);
	free(cmd->str);
	cmd->data = NULL;
	cmd->str = NULL;
}

static int
script_push(struct script *s, const struct script_cmd *cmd)
{
	struct script_cmd *copy;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct script_cmd *n = realloc(s->cmds, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->cmds = n;
		s->cap = cap;
	}
	copy = &s->cmds[s->count];
	*copy = *cmd;
	copy->data = NULL;
	copy->str = NULL;
	if (cmd->data) {
		copy->data = malloc(cmd->data_len + 1);
		if (!copy->data)
			return -ENOMEM;
		memcpy(copy->data, cmd->data, cmd->data_len + 1);
	}
	if (cmd->str) {
		copy->str = strdup(cmd->str);
		if (!copy->str) {
			free(copy->data);
			return -ENOMEM;
		}
	}
	s->count++;
	return 0;
}

/* Parse one tokenised line into s (repeat prefix handled here). */
static int
parse_tokens(struct line_ctx *c, struct script *s)
{
	struct script_cmd cmd = { 0 };
	uint64_t repeat = 1;
	const struct verb *v = NULL;
	size_t k;
	int r;

	if (c->ntok == 0)
		return 0;
	if (!strcmp(c->tok[0].s, "repeat") && !c->tok[0].quoted) {
		r = parse_u64(c, 1, "repeat count", SCRIPT_MAX_REPEAT,
			      &repeat);
		if (r < 0)
			return r;
		if (repeat == 0 || c->ntok < 3)
			return perr(c, "usage: repeat N COMMAND ...");
		memmove(c->tok, c->tok + 2, (c->ntok - 2) * sizeof(c->tok[0]));
		c->ntok -= 2;
		if (!strcmp(c->tok[0].s, "repeat"))
			return perr(c, "nested repeat");
	}
	for (k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (!c->tok[0].quoted && !strcmp(verbs[k].name, c->tok[0].s))
			v = &verbs[k];
	if (!v)
		return perr(c, "unknown command '%s'", c->tok[0].s);
	cmd.op = v->op;
	cmd.verb = v->name;
	cmd.size = v->size;
	cmd.is_read = v->is_read;
	cmd.line = c->line;
	r = v->parse(c, &cmd);
	if (r < 0 && r != -EINVAL)
		perr(c, "%s", strerror(-r));
	for (; r >= 0 && repeat > 0; repeat--)
		r = script_push(s, &cmd);
	cmd_clear(&cmd);
	return r < 0 ? -EINVAL : 0;
}

int
script_parse(const char *name, FILE *in, const struct script_limits *lim,
	     struct script **ret)
{
	struct line_ctx c = { .name = name, .lim = lim };
	struct script *s;
	char *line = NULL, *scratch = NULL;
	size_t line_cap = 0, scratch_cap = 0;
	ssize_t n;
	bool bad = false;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sock = -1;
	s->timeout_ms = lim->timeout_ms;
	s->name = strdup(name);
	if (!s->name)
		goto nomem;
	while ((n = getline(&line, &line_cap, in)) >= 0) {
		c.line++;
		if ((size_t)n + 1 > scratch_cap) {
			char *p = realloc(scratch, (size_t)n + 1);

			if (!p)
				goto nomem;
			scratch = p;
			scratch_cap = (size_t)n + 1;
		}
		if (strlen(line) != (size_t)n) {
			perr(&c, "NUL byte in line");
			bad = true;
			continue;
		}
		if (lex_line(&c, line, scratch) < 0 ||
		    parse_tokens(&c, s) < 0)
			bad = true;
	}
	free(line);
	free(scratch);
	if (ferror(in)) {
		script_free(s);
		return -EIO;
	}
	if (bad) {
		script_free(s);
		return -EINVAL;
	}
	*ret = s;
	return 0;
nomem:
	free(line);
	free(scratch);
	script_free(s);
	return -ENOMEM;
}

void
script_free(struct script *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->count; i++)
		cmd_clear(&s->cmds[i]);
	if (s->sock >= 0)
		close(s->sock);
	free(s->cmds);
	free(s->rx);
	free(s->name);
	free(s);
}

/* ------------------------------------------------------------- running */

static void
fail(struct script *s, const struct script_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct script *s, const struct script_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: expected ", s->name, cmd->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	s->failures++;
}

/* A bounded, escaped rendering of bytes for messages. */
static void
render(const uint8_t *p, size_t len, char *out, size_t out_len)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 8 < out_len; i++) {
		uint8_t ch = p[i];

		if (ch == '\n')
			o += (size_t)snprintf(out + o, out_len - o, "\\n");
		else if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, out_len - o, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x",
					      ch);
	}
	if (i < len)
		o += (size_t)snprintf(out + o, out_len - o, "...");
	out[o] = '\0';
}

/* Returns true if the access completed; otherwise reports and aborts. */
static bool
check_status(struct script *s, const struct script_cmd *cmd,
	     enum hv_status st)
{
	switch (st) {
	case HV_OK:
		return true;
	case HV_TIMEOUT:
		fail(s, cmd, "an answer to %s within %u ms, got none",
		     cmd->verb, s->timeout_ms);
		break;
	case HV_CRASHED:
		fail(s, cmd, "%s to complete, got a domain crash", cmd->verb);
		break;
	case HV_DEAD:
		fail(s, cmd, "%s on a live domain, got a destroyed domain",
		     cmd->verb);
		break;
	case HV_BAD_ARG:
		fail(s, cmd, "%s with valid arguments, got an access the "
		     "hypervisor rejects", cmd->verb);
		return false;
	}
	s->aborted = true;
	return false;
}

static void
check_value(struct script *s, const struct script_cmd *cmd, const char *what,
	    uint64_t got)
{
	if (!cmd->has_expect || (got & cmd->mask) == cmd->expect)
		return;
	if (cmd->mask == size_mask(cmd->size))
		fail(s, cmd, "%s == %#" PRIx64 ", got %#" PRIx64, what,
		     cmd->expect, got);
	else
		fail(s, cmd, "%s & %#" PRIx64 " == %#" PRIx64 ", got %#"
		     PRIx64 " (& %#" PRIx64 " = %#" PRIx64 ")", what,
		     cmd->mask, cmd->expect, got, cmd->mask, got & cmd->mask);
}

static void
run_pio(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t v = cmd->value;
	char what[64];

	if (!check_status(s, cmd, hv_pio(hv, s->vcpu, (uint16_t)cmd->addr,
					 cmd->size, cmd->is_read, &v)))
		return;
	snprintf(what, sizeof(what), "%s %#" PRIx64, cmd->verb, cmd->addr);
	check_value(s, cmd, what, v & size_mask(cmd->size));
}

static void
run_mmio(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t v = cmd->value;
	char what[64];

	if (!check_status(s, cmd, hv_mmio(hv, s->vcpu, cmd->addr, cmd->size,
					  cmd->is_read, &v)))
		return;
	snprintf(what, sizeof(what), "%s %#" PRIx64, cmd->verb, cmd->addr);
	check_value(s, cmd, what, v & size_mask(cmd->size));
}

/* As a guest does it: latch the address at 0xcf8, access 0xcfc-0xcff. */
static void
run_cfg(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t cf8 = 0x80000000u | cmd->addr << 8 | (cmd->off & 0xfc);
	uint64_t v = cmd->value;
	char what[64];

	if (!check_status(s, cmd, hv_pio(hv, s->vcpu, 0xcf8, 4, false, &cf8)))
		return;
	if (!check_status(s, cmd, hv_pio(hv, s->vcpu,
					 (uint16_t)(0xcfc + (cmd->off & 3)),
					 cmd->size, cmd->is_read, &v)))
		return;
	snprintf(what, sizeof(what), "%s %02x:%02x.%x %#" PRIx64, cmd->verb,
		 (unsigned)(cmd->addr >> 8), (unsigned)(cmd->addr >> 3) & 0x1f,
		 (unsigned)cmd->addr & 7, cmd->off);
	check_value(s, cmd, what, v & size_mask(cmd->size));
}

static uint8_t *
guest_range(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	    uint64_t gpa, uint64_t len)
{
	uint8_t *p = NULL;

	if (len <= SIZE_MAX && gpa + len >= gpa)
		p = hv_guest_ptr(hv, gpa, (size_t)len);
	if (!p)
		fail(s, cmd, "guest RAM at [%#" PRIx64 ", +%#" PRIx64
		     "), got an address outside RAM", gpa, len);
	return p;
}

static void
run_mem(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t len = cmd->op == OP_MEMWRITE ? cmd->data_len : cmd->value;
	uint8_t *p = guest_range(s, hv, cmd, cmd->addr, len);
	char want[160], got[160];
	size_t i;

	if (!p)
		return;
	switch (cmd->op) {
	case OP_MEMWRITE:
		memcpy(p, cmd->data, cmd->data_len);
		break;
	case OP_MEMSET:
		memset(p, (int)cmd->off, (size_t)len);
		break;
	default:
		if (!cmd->has_data) {
			printf("memread %#" PRIx64 ": hex:", cmd->addr);
			for (i = 0; i < len; i++)
				printf("%02x", p[i]);
			printf("\n");
			fflush(stdout);
		} else if (memcmp(p, cmd->data, (size_t)len)) {
			render(cmd->data, (size_t)len, want, sizeof(want));
			render(p, (size_t)len, got, sizeof(got));
			fail(s, cmd, "memread %#" PRIx64 " %" PRIu64
			     " == \"%s\", got \"%s\"", cmd->addr, len, want,
			     got);
		}
		break;
	}
}

/*
 * One guest REP INS/OUTS.  hv_rep_pio issues as many requests as Xen
 * would: it clips each to keep the RAM side in one page and restarts the
 * instruction for the remaining elements.
 */
static void
run_rep(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	check_status(s, cmd, hv_rep_pio(hv, s->vcpu, (uint16_t)cmd->addr,
					cmd->size, cmd->is_read, cmd->off,
					(uint32_t)cmd->value, s->df));
}

static void
describe_irq(const struct hv_injection *j, char *buf, size_t len)
{
	const char *lvl = j->level ? "high" : "low";

	switch (j->kind) {
	case HV_IRQ_ISA:
		snprintf(buf, len, "isa irq %u %s", j->a, lvl);
		break;
	case HV_IRQ_INTX:
		snprintf(buf, len, "intx %02x:%02x.x %c %s", j->a >> 8,
			 (j->a >> 3) & 0x1f, 'A' + (j->b & 3), lvl);
		break;
	case HV_IRQ_MSI:
		snprintf(buf, len, "msi addr %#" PRIx64 " data %#x", j->addr,
			 j->data);
		break;
	case HV_IRQ_SPI:
		snprintf(buf, len, "spi %u %s", j->a, lvl);
		break;
	case HV_IRQ_LINK:
		snprintf(buf, len, "pci link %u routed to isa irq %u", j->a,
			 j->b);
		break;
	}
}

static void
run_expect_irq(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	struct hv_injection last = { 0 };
	bool have_last = false;
	char want[96], got[96];

	if (hv_expect_injection(hv, &cmd->irq, SCRIPT_IRQ_WAIT_MS, &last,
				&have_last) == 0)
		return;
	describe_irq(&cmd->irq, want, sizeof(want));
	if (have_last)
		describe_irq(&last, got, sizeof(got));
	else
		snprintf(got, sizeof(got), "no such injection within %u ms",
			 SCRIPT_IRQ_WAIT_MS);
	fail(s, cmd, "%s, got %s", want, got);
}

static void
run_expect_no_irq(struct script *s, struct hv *hv,
		  const struct script_cmd *cmd)
{
	struct hv_injection j;
	char got[96];

	if (!hv_peek_injection(hv, &j))
		return;
	describe_irq(&j, got, sizeof(got));
	fail(s, cmd, "no unconsumed injection, got %s", got);
}

static void sleep_ms(uint64_t ms);

/*
 * Context switches of every thread of process pid (voluntary plus
 * involuntary, from /proc/PID/task/TID/status), or -1 if unreadable.
 */
static long long
ctxt_switches(pid_t pid)
{
	char path[64], line[128];
	long long sum = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/status",
			 (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			long long v;

			if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %lld",
				   &v) == 1)
				sum += v;
		}
		fclose(f);
	}
	closedir(d);
	return sum;
}

static void
run_expect_idle(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	pid_t pid = hv_child_pid(hv);
	uint64_t dmops = hv_dmop_count(hv);
	long long cs = ctxt_switches(pid), cs_after;

	sleep_ms(cmd->value);
	dmops = hv_dmop_count(hv) - dmops;
	cs_after = ctxt_switches(pid);
	if (cs < 0 || cs_after < 0) {
		fail(s, cmd, "a running device model, got no /proc/%d/task",
		     (int)pid);
		return;
	}
	if (dmops != 0 || cs_after != cs)
		fail(s, cmd, "no dm_op and no wake-up of the device model in "
		     "%llu ms, got %llu dm_ops and %lld context switches",
		     (unsigned long long)cmd->value, (unsigned long long)dmops,
		     cs_after - cs);
}

static void
run_count_reset(struct script *s, struct hv *hv)
{
	for (int i = 0; i < HV_COUNTER_MAX; i++)
		s->count_base[i] = hv_counter(hv, i);
}

static void
run_expect_count(struct script *s, struct hv *hv,
		 const struct script_cmd *cmd)
{
	int id = (int)cmd->addr;
	uint64_t got = hv_counter(hv, id) - s->count_base[id];

	if (cmd->flag ? got > cmd->value : got != cmd->value)
		fail(s, cmd, "%s %s %llu, got %llu", cmd->str,
		     cmd->flag ? "<=" : "==", (unsigned long long)cmd->value,
		     (unsigned long long)got);
}

static void
run_bench(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	struct bench_io_result res;
	char line[256];
	int r = bench_io_run(hv, &cmd->bench, &res);

	if (r < 0) {
		fail(s, cmd, "bench-io to start, got %s", strerror(-r));
		return;
	}
	if (!check_status(s, cmd, res.status))
		return;
	bench_io_format(&cmd->bench, &res, line, sizeof(line));
	printf("%s\n", line);
	fflush(stdout);
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads at most SCRIPT_MAX_DATA bytes of path; -errno on failure. */
static int
read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	uint8_t *buf = malloc(SCRIPT_MAX_DATA);
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	while (len < SCRIPT_MAX_DATA) {
		n = read(fd, buf + len, SCRIPT_MAX_DATA - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static void
run_wait_file(struct script *s, const struct script_cmd *cmd)
{
	uint64_t deadline = now_ms() + cmd->off;
	uint8_t *buf = NULL;
	size_t len = 0;
	char want[160], got[160];
	int r;

	for (;;) {
		free(buf);
		buf = NULL;
		len = 0;
		r = read_file(cmd->str, &buf, &len);
		if (r == 0 && memmem(buf, len, cmd->data, cmd->data_len)) {
			free(buf);
			return;
		}
		if (now_ms() >= deadline)
			break;
		sleep_ms(10);
	}
	render(cmd->data, cmd->data_len, want, sizeof(want));
	if (r < 0)
		snprintf(got, sizeof(got), "%s", strerror(-r));
	else
		render(buf, len, got, sizeof(got));
	fail(s, cmd, "%s to contain \"%s\" within %" PRIu64 " ms, got %s%s%s",
	     cmd->str, want, cmd->off, r < 0 ? "" : "\"", got,
	     r < 0 ? "" : "\"");
	free(buf);
}

static void
run_expect_file(struct script *s, const struct script_cmd *cmd)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char want[160], got[160];
	int r = read_file(cmd->str, &buf, &len);

	render(cmd->data, cmd->data_len, want, sizeof(want));
	if (r < 0)
		fail(s, cmd, "%s == \"%s\", got %s", cmd->str, want,
		     strerror(-r));
	else if (len != cmd->data_len || memcmp(buf, cmd->data, len)) {
		render(buf, len, got, sizeof(got));
		fail(s, cmd, "%s == \"%s\", got \"%s\"", cmd->str, want, got);
	}
	free(buf);
}

static void
run_connect(struct script *s, const struct script_cmd *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + SCRIPT_CONNECT_WAIT_MS;
	int fd, r;

	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	s->rx_len = 0;
	strncpy(sa.sun_path, cmd->str, sizeof(sa.sun_path) - 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = errno;
			break;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			s->sock = fd;
			return;
		}
		r = errno;
		close(fd);
		/* the model may create its socket a little after it is ready */
		if ((r != ENOENT && r != ECONNREFUSED) || now_ms() >= deadline)
			break;
		sleep_ms(10);
	}
	fail(s, cmd, "a connection to %s, got %s", cmd->str, strerror(r));
}

static void
run_send(struct script *s, const struct script_cmd *cmd)
{
	size_t done = 0;
	ssize_t n;

	if (s->sock < 0) {
		fail(s, cmd, "a connected socket, got none");
		return;
	}
	while (done < cmd->data_len) {
		n = send(s->sock, cmd->data + done, cmd->data_len - done,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(s, cmd, "to send %zu bytes, got %s",
			     cmd->data_len, strerror(errno));
			return;
		}
		done += (size_t)n;
	}
}

/* Received bytes accumulate; a match consumes everything up to its end. */
static void
run_sock_expect(struct script *s, const struct script_cmd *cmd)
{
	uint64_t deadline = now_ms() + cmd->off;
	char want[160], got[160];
	const char *why = "";

	if (s->sock < 0) {
		fail(s, cmd, "a connected socket, got none");
		return;
	}
	if (!s->rx) {
		s->rx = malloc(SCRIPT_MAX_DATA);
		if (!s->rx) {
			fail(s, cmd, "memory, got none");
			return;
		}
	}
	for (;;) {
		uint8_t *m = memmem(s->rx, s->rx_len, cmd->data,
				    cmd->data_len);
		struct pollfd pfd = { .fd = s->sock, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (m) {
			size_t used = (size_t)(m - s->rx) + cmd->data_len;

			memmove(s->rx, s->rx + used, s->rx_len - used);
			s->rx_len -= used;
			return;
		}
		if (now >= deadline)
			break;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if (s->rx_len == SCRIPT_MAX_DATA) {
			/* keep the newest half */
			memmove(s->rx, s->rx + SCRIPT_MAX_DATA / 2,
				SCRIPT_MAX_DATA / 2);
			s->rx_len = SCRIPT_MAX_DATA / 2;
		}
		n = recv(s->sock, s->rx + s->rx_len,
			 SCRIPT_MAX_DATA - s->rx_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			why = n == 0 ? " (connection closed)" : " (recv error)";
			break;
		}
		s->rx_len += (size_t)n;
	}
	render(cmd->data, cmd->data_len, want, sizeof(want));
	render(s->rx, s->rx_len, got, sizeof(got));
	fail(s, cmd, "socket to receive \"%s\" within %" PRIu64
	     " ms, got \"%s\"%s", want, cmd->off, got, why);
}

static void
run_hv_simple(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	int r;

	switch (cmd->op) {
	case OP_BUFWRITE:
		check_status(s, cmd, hv_buffered_write(hv, s->vcpu, cmd->addr,
						       cmd->size, cmd->value));
		break;
	case OP_TIMEOFFSET:
		check_status(s, cmd, hv_timeoffset(hv, (int64_t)cmd->value));
		break;
	case OP_INVALIDATE:
		check_status(s, cmd, hv_invalidate(hv, s->vcpu));
		break;
	case OP_GRANT:
		r = hv_grant(hv, (uint32_t)cmd->addr, cmd->value, cmd->flag);
		if (r < 0)
			fail(s, cmd, "grant %" PRIu64 " to succeed, got %s",
			     cmd->addr, strerror(-r));
		break;
	case OP_UNGRANT:
		r = hv_ungrant(hv, (uint32_t)cmd->addr);
		if (r < 0)
			fail(s, cmd, "ungrant %" PRIu64 " to succeed, got %s",
			     cmd->addr, strerror(-r));
		break;
	case OP_FAIL_DMOP:
		r = hv_fail_dmop(hv, cmd->str, cmd->err);
		if (r < 0)
			fail(s, cmd, "a known dm_op name, got '%s' (%s)",
			     cmd->str, strerror(-r));
		break;
	default:
		break;
	}
}

static void
run_fuzz(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	char msg[256];
	enum hv_status st = hv_fuzz_ioreqs(hv, s->vcpu, cmd->value,
					   (unsigned)cmd->addr, msg,
					   sizeof(msg));

	if (st == HV_OK)
		return;
	fail(s, cmd, "the device model to survive hostile requests, got %s",
	     msg);
	if (st != HV_BAD_ARG)
		s->aborted = true;
}

/* ------------------------------------------------- PCI guest helpers */

/*
 * pci-scan and pci-setup play the firmware: they enumerate bus 0 through
 * 0xcf8/0xcfc and, for pci-setup, size and place BARs the way Xen's
 * hvmloader does (tools/firmware/hvmloader/pci.c, learnt from, not
 * copied): BARs sorted by size, largest first; memory from the hole
 * [0xf0000000, 0xfc000000), grown downwards by doubling while it stays
 * above guest RAM (xensim never relocates RAM); 64-bit BARs above 4 GiB
 * only when the hole is too small; I/O from 0xc000 to 0xffff; interrupt
 * line from hvmloader's default link routing.
 */
#define PCI_MAX_FUNCS 256
#define PCI_MAX_BARS (PCI_MAX_FUNCS * 6)
#define PCI_HOLE_START 0xf0000000ull	/* HVM_BELOW_4G_MMIO_START */
#define PCI_HOLE_END 0xfc000000ull	/* PCI_MEM_END */
#define PCI_IO_START 0xc000ull
#define PCI_IO_END 0x10000ull
#define PCI_HIGH_START (1ull << 32)
#define PCI_HIGH_END (1ull << 46)
#define PCI_CMD_IO 0x1u
#define PCI_CMD_MEM 0x2u
#define PCI_CMD_MASTER 0x4u

/*
 * hvmloader routes PCI-ISA links 0-3 to the IRQs of PCI_ISA_IRQ_MASK
 * (0x0c20: 5, 10, 11) in turn, and INTx pin P (1-4) of slot S to link
 * (P - 1 + S) & 3.
 */
static const uint8_t pci_link_irq[4] = { 5, 10, 11, 5 };

struct pci_func {
	uint32_t sbdf;
	uint16_t vendor, device;
	uint32_t class_code;	/* class << 16 | subclass << 8 | prog-if */
	uint8_t decode;		/* PCI_CMD_* to enable */
};

enum pci_bar_kind { PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	unsigned func;		/* index into the function list */
	unsigned index;		/* BAR 0-5 */
	enum pci_bar_kind kind;
	bool prefetchable;
	uint64_t size;
	uint64_t base;
	bool placed;
};

struct pci_state {
	struct pci_func funcs[PCI_MAX_FUNCS];
	unsigned nfuncs;
	struct pci_bar bars[PCI_MAX_BARS];
	unsigned nbars;
};

/* One config access through 0xcf8/0xcfc; false if the script aborted. */
static bool
pci_cfg(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	uint32_t sbdf, unsigned off, unsigned size, bool is_read,
	uint64_t *val)
{
	uint64_t cf8 = 0x80000000u | (uint64_t)sbdf << 8 | (off & 0xfc);

	if (!check_status(s, cmd, hv_pio(hv, s->vcpu, 0xcf8, 4, false, &cf8)))
		return false;
	if (!check_status(s, cmd, hv_pio(hv, s->vcpu,
					 (uint16_t)(0xcfc + (off & 3)), size,
					 is_read, val)))
		return false;
	*val &= size_mask(size);
	return true;
}

static bool
pci_read(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 uint32_t sbdf, unsigned off, unsigned size, uint64_t *val)
{
	*val = 0;
	return pci_cfg(s, hv, cmd, sbdf, off, size, true, val);
}

static bool
pci_write(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  uint32_t sbdf, unsigned off, unsigned size, uint64_t val)
{
	return pci_cfg(s, hv, cmd, sbdf, off, size, false, &val);
}

/*
 * Probe one function: present unless vendor:device reads all ones or all
 * zeros in either half (what Linux treats as "no device").
 */
static bool
pci_probe(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  uint32_t sbdf, struct pci_state *ps, bool *ret_present)
{
	struct pci_func *f = &ps->funcs[ps->nfuncs];
	uint64_t id, cls;

	*ret_present = false;
	if (!pci_read(s, hv, cmd, sbdf, 0x00, 4, &id))
		return false;
	if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0 ||
	    (id >> 16) == 0xffff || (id >> 16) == 0)
		return true;
	if (!pci_read(s, hv, cmd, sbdf, 0x08, 4, &cls))
		return false;
	*f = (struct pci_func){
		.sbdf = sbdf, .vendor = (uint16_t)id,
		.device = (uint16_t)(id >> 16),
		.class_code = (uint32_t)(cls >> 8),
	};
	ps->nfuncs++;
	*ret_present = true;
	return true;
}

/* Bus 0, devices 0-31; functions 1-7 only behind a multi-function fn 0. */
static bool
pci_enumerate(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct pci_state *ps)
{
	ps->nfuncs = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t sbdf0 = dev << 3;
		uint64_t hdr;
		bool present;

		if (!pci_probe(s, hv, cmd, sbdf0, ps, &present))
			return false;
		if (!present)
			continue;
		if (!pci_read(s, hv, cmd, sbdf0, 0x0e, 1, &hdr))
			return false;
		if (!(hdr & 0x80))
			continue;
		for (unsigned fn = 1; fn < 8; fn++)
			if (!pci_probe(s, hv, cmd, sbdf0 | fn, ps, &present))
				return false;
	}
	return true;
}

static char *
pci_bdf(uint32_t sbdf, char buf[static 16])
{
	snprintf(buf, 16, "%02x:%02x.%u", (unsigned)(sbdf >> 8) & 0xff,
		 (unsigned)(sbdf >> 3) & 0x1f, (unsigned)sbdf & 7);
	return buf;
}

static void
run_pci_scan(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	static struct pci_state ps;
	char list[PCI_MAX_FUNCS * 19 + 1] = "", b[16];
	size_t o = 0;

	if (!pci_enumerate(s, hv, cmd, &ps))
		return;
	for (unsigned i = 0; i < ps.nfuncs; i++) {
		const struct pci_func *f = &ps.funcs[i];

		printf("%s %04x:%04x class %06x\n", pci_bdf(f->sbdf, b),
		       f->vendor, f->device, f->class_code);
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s %04x:%04x",
				      i ? " " : "", b, f->vendor, f->device);
	}
	fflush(stdout);
	if (cmd->has_expect && strcmp(list, cmd->str) != 0)
		fail(s, cmd, "pci-scan == \"%s\", got \"%s\"", cmd->str, list);
}

/*
 * Size BAR `index` of function fi the way firmware does: decode is off
 * (pci-setup cleared it), write all ones, read back, restore.  Adds the
 * BAR to ps->bars in size order (largest first, stable); *ret_skip is
 * true when it used the next register too (64-bit).
 */
static bool
pci_size_bar(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	     struct pci_state *ps, unsigned fi, unsigned index,
	     bool *ret_skip)
{
	uint32_t sbdf = ps->funcs[fi].sbdf;
	unsigned reg = 0x10 + 4 * index;
	uint64_t orig, mask, orig_hi = 0, mask_hi = 0, size;
	struct pci_bar bar = { .func = fi, .index = index };
	unsigned k;

	*ret_skip = false;
	if (!pci_read(s, hv, cmd, sbdf, reg, 4, &orig) ||
	    !pci_write(s, hv, cmd, sbdf, reg, 4, 0xffffffff) ||
	    !pci_read(s, hv, cmd, sbdf, reg, 4, &mask) ||
	    !pci_write(s, hv, cmd, sbdf, reg, 4, orig))
		return false;
	if (orig & 1) {
		bar.kind = PCI_BAR_IO;
		mask &= 0xfffc;
	} else {
		bar.kind = (orig & 6) == 4 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
		bar.prefetchable = orig & 8;
		mask &= ~0xfull;
	}
	if (bar.kind == PCI_BAR_MEM64 && index < 5) {
		if (!pci_read(s, hv, cmd, sbdf, reg + 4, 4, &orig_hi) ||
		    !pci_write(s, hv, cmd, sbdf, reg + 4, 4, 0xffffffff) ||
		    !pci_read(s, hv, cmd, sbdf, reg + 4, 4, &mask_hi) ||
		    !pci_write(s, hv, cmd, sbdf, reg + 4, 4, orig_hi))
			return false;
		mask |= mask_hi << 32;
		*ret_skip = true;
	} else if (bar.kind == PCI_BAR_MEM64) {
		bar.kind = PCI_BAR_MEM32;	/* no room for the upper half */
	}
	size = mask & (~mask + 1);	/* lowest writable address bit */
	if (size == 0)
		return true;
	bar.size = size;
	for (k = 0; k < ps->nbars && ps->bars[k].size >= size; k++)
		;
	memmove(&ps->bars[k + 1], &ps->bars[k],
		(ps->nbars - k) * sizeof(ps->bars[0]));
	ps->bars[k] = bar;
	ps->nbars++;
	return true;
}

/* Size every BAR of every function; set the interrupt line. */
static bool
pci_collect(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	    struct pci_state *ps)
{
	ps->nbars = 0;
	for (unsigned fi = 0; fi < ps->nfuncs; fi++) {
		uint32_t sbdf = ps->funcs[fi].sbdf;
		uint64_t command, pin;
		bool skip;

		if (!pci_read(s, hv, cmd, sbdf, 0x04, 2, &command) ||
		    !pci_write(s, hv, cmd, sbdf, 0x04, 2,
			       command & ~(uint64_t)(PCI_CMD_IO | PCI_CMD_MEM)))
			return false;
		for (unsigned index = 0; index < 6; index++) {
			if (!pci_size_bar(s, hv, cmd, ps, fi, index, &skip))
				return false;
			index += skip;
		}
		if (!pci_read(s, hv, cmd, sbdf, 0x3d, 1, &pin))
			return false;
		if (pin >= 1 && pin <= 4 &&
		    !pci_write(s, hv, cmd, sbdf, 0x3c, 1,
			       pci_link_irq[(pin - 1 + (sbdf >> 3)) & 3]))
			return false;
		ps->funcs[fi].decode = PCI_CMD_MASTER;
	}
	return true;
}

struct pci_window {
	uint64_t base, end;	/* next free address, first address past */
};

/* Place one BAR at the next aligned address of w; false if it is full. */
static bool
pci_place(struct pci_window *w, struct pci_bar *bar)
{
	uint64_t base = (w->base + bar->size - 1) & ~(bar->size - 1);

	if (base < w->base || base > w->end || bar->size > w->end - base)
		return false;
	bar->base = base;
	w->base = base + bar->size;
	return true;
}

/*
 * First address past guest RAM: RAM is [0, memory) minus the VGA hole,
 * so binary-search the last RAM page above 1 MiB.
 */
static uint64_t
pci_ram_top(struct hv *hv)
{
	uint64_t lo = 0x100000, hi = PCI_HIGH_START;	/* lo RAM, hi not */

	if (!hv_guest_ptr(hv, lo, 1))
		return lo;
	while (hi - lo > 4096) {
		uint64_t mid = lo + (hi - lo) / 2;

		mid &= ~4095ull;
		if (hv_guest_ptr(hv, mid, 1))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static bool
pci_assign(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct pci_state *ps)
{
	struct pci_window low = { PCI_HOLE_START, PCI_HOLE_END };
	struct pci_window high = { PCI_HIGH_START, PCI_HIGH_END };
	struct pci_window io = { PCI_IO_START, PCI_IO_END };
	uint64_t ram_top = pci_ram_top(hv);
	uint64_t mmio_total = 0;
	bool relocate;

	for (unsigned k = 0; k < ps->nbars; k++)
		if (ps->bars[k].kind != PCI_BAR_IO)
			mmio_total += ps->bars[k].size;
	/*
	 * Grow the hole downwards as hvmloader does (its start shifted left
	 * in 32 bits: 0xf0000000, 0xe0000000, 0xc0000000, 0x80000000) while
	 * it stays above RAM.
	 */
	while (mmio_total > low.end - low.base) {
		uint64_t next = (low.base << 1) & 0xffffffffull;

		if (next == 0 || next >= low.base || next < ram_top)
			break;
		low.base = next;
	}
	relocate = mmio_total > low.end - low.base;
	for (unsigned k = 0; k < ps->nbars; k++) {
		struct pci_bar *bar = &ps->bars[k];
		struct pci_func *f = &ps->funcs[bar->func];
		struct pci_window *w = &io;
		unsigned reg = 0x10 + 4 * bar->index;
		uint64_t flags = bar->kind == PCI_BAR_IO ? 1 :
				 (bar->kind == PCI_BAR_MEM64 ? 4 : 0) |
				 (bar->prefetchable ? 8 : 0);

		if (bar->kind != PCI_BAR_IO) {
			w = bar->kind == PCI_BAR_MEM64 && relocate &&
			    mmio_total > low.end - low.base ? &high : &low;
			mmio_total -= bar->size;
		}
		if (!pci_place(w, bar))
			continue;	/* no space: left unassigned */
		bar->placed = true;
		if (!pci_write(s, hv, cmd, f->sbdf, reg, 4,
			       (bar->base & 0xffffffffull) | flags))
			return false;
		if (bar->kind == PCI_BAR_MEM64 &&
		    !pci_write(s, hv, cmd, f->sbdf, reg + 4, 4, bar->base >> 32))
			return false;
		f->decode |= bar->kind == PCI_BAR_IO ? PCI_CMD_IO : PCI_CMD_MEM;
	}
	return true;
}

static void
pci_print_bar(const struct pci_state *ps, const struct pci_bar *bar)
{
	static const char *const kinds[] = { "io", "mem32", "mem64" };
	char b[16];

	if (!bar->placed) {
		printf("%s BAR%u %s%s no space size 0x%" PRIx64 "\n",
		       pci_bdf(ps->funcs[bar->func].sbdf, b), bar->index,
		       kinds[bar->kind], bar->prefetchable ? ",pf" : "",
		       bar->size);
		return;
	}
	printf("%s BAR%u %s%s 0x%" PRIx64 " size 0x%" PRIx64 "\n",
	       pci_bdf(ps->funcs[bar->func].sbdf, b), bar->index,
	       kinds[bar->kind], bar->prefetchable ? ",pf" : "", bar->base,
	       bar->size);
}

static void
run_pci_setup(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	static struct pci_state ps;

	if (!pci_enumerate(s, hv, cmd, &ps) || !pci_collect(s, hv, cmd, &ps) ||
	    !pci_assign(s, hv, cmd, &ps))
		return;
	/* Decode and bus mastering on, once every BAR is in place. */
	for (unsigned fi = 0; fi < ps.nfuncs; fi++) {
		uint64_t command;

		if (!pci_read(s, hv, cmd, ps.funcs[fi].sbdf, 0x04, 2,
			      &command) ||
		    !pci_write(s, hv, cmd, ps.funcs[fi].sbdf, 0x04, 2,
			       command | ps.funcs[fi].decode))
			return;
	}
	/* Report in function and BAR order. */
	for (unsigned fi = 0; fi < ps.nfuncs; fi++)
		for (unsigned index = 0; index < 6; index++)
			for (unsigned k = 0; k < ps.nbars; k++)
				if (ps.bars[k].func == fi &&
				    ps.bars[k].index == index)
					pci_print_bar(&ps, &ps.bars[k]);
	fflush(stdout);
}

static void
run_one(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	switch (cmd->op) {
	case OP_VCPU: s->vcpu = (unsigned)cmd->value; break;
	case OP_PIO: run_pio(s, hv, cmd); break;
	case OP_MMIO: run_mmio(s, hv, cmd); break;
	case OP_CFG: run_cfg(s, hv, cmd); break;
	case OP_MEMWRITE:
	case OP_MEMREAD:
	case OP_MEMSET: run_mem(s, hv, cmd); break;
	case OP_REP: run_rep(s, hv, cmd); break;
	case OP_STD: s->df = true; break;
	case OP_CLD: s->df = false; break;
	case OP_EXPECT_IRQ: run_expect_irq(s, hv, cmd); break;
	case OP_EXPECT_NO_IRQ: run_expect_no_irq(s, hv, cmd); break;
	case OP_SLEEP: sleep_ms(cmd->value); break;
	case OP_EXPECT_IDLE: run_expect_idle(s, hv, cmd); break;
	case OP_COUNT_RESET: run_count_reset(s, hv); break;
	case OP_EXPECT_COUNT: run_expect_count(s, hv, cmd); break;
	case OP_FUZZ: run_fuzz(s, hv, cmd); break;
	case OP_DESTROY:
		hv_destroy_domain(hv);
		s->destroyed = true;
		break;
	case OP_BENCH: run_bench(s, hv, cmd); break;
	case OP_ECHO:
		printf("%s\n", cmd->str);
		fflush(stdout);
		break;
	case OP_WAIT_FILE: run_wait_file(s, cmd); break;
	case OP_EXPECT_FILE: run_expect_file(s, cmd); break;
	case OP_CONNECT: run_connect(s, cmd); break;
	case OP_SEND: run_send(s, cmd); break;
	case OP_SOCK_EXPECT: run_sock_expect(s, cmd); break;
	case OP_SOCK_CLOSE:
		if (s->sock >= 0)
			close(s->sock);
		s->sock = -1;
		s->rx_len = 0;
		break;
	case OP_PCI_SCAN: run_pci_scan(s, hv, cmd); break;
	case OP_PCI_SETUP: run_pci_setup(s, hv, cmd); break;
	default: run_hv_simple(s, hv, cmd); break;
	}
}

unsigned
script_run(struct script *s, struct hv *hv, bool *ret_destroyed)
{
	size_t i;

	s->vcpu = 0;
	s->df = false;
	for (i = 0; i < s->count && !s->aborted; i++)
		run_one(s, hv, &s->cmds[i]);
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	*ret_destroyed = s->destroyed;
	return s->failures;
}
