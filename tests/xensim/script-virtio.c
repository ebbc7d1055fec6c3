/*
 * Parsing the virtio driver commands (script-language.md, "virtio driver
 * (extension)") into struct vdrv_args; vdrv.c runs them.  Literal bytes
 * of a command (readable buffers, expected contents) are concatenated in
 * cmd->data, each struct vdrv_data naming its slice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "script-internal.h"
#include "vdrv.h"

static const char *const hostile_names[_VDRV_H_COUNT] = {
	[VDRV_H_LOOP] = "loop",
	[VDRV_H_LONG_CHAIN] = "long-chain",
	[VDRV_H_LONG_INDIRECT] = "long-indirect",
	[VDRV_H_NESTED_INDIRECT] = "nested-indirect",
	[VDRV_H_INDIRECT_NEXT] = "indirect-next",
	[VDRV_H_BAD_HEAD] = "bad-head",
	[VDRV_H_BAD_NEXT] = "bad-next",
};

static bool
word_is(const struct line_ctx *c, unsigned i, const char *w)
{
	return i < c->ntok && !c->tok[i].quoted && !strcmp(c->tok[i].s, w);
}

static int
parse_queue_index(struct line_ctx *c, unsigned i, struct vdrv_args *a)
{
	uint64_t q;
	int r = parse_u64(c, i, "queue", VDRV_QUEUES - 1, &q);

	a->q = (unsigned)q;
	return r;
}

/* Append literal bytes to cmd->data; their slice goes to *d. */
static int
append_bytes(struct script_cmd *cmd, const uint8_t *p, size_t len,
	     struct vdrv_data *d)
{
	uint8_t *n = realloc(cmd->data, cmd->data_len + len + 1);

	if (!n)
		return -ENOMEM;
	memcpy(n + cmd->data_len, p, len);
	n[cmd->data_len + len] = 0;
	cmd->data = n;
	d->kind = VDRV_DATA_BYTES;
	d->off = (uint32_t)cmd->data_len;
	d->len = (uint32_t)len;
	cmd->data_len += len;
	return 0;
}

/* DATA: "text", hex:..., pattern:SEED:LEN, or (if allowed) saved. */
static int
parse_vdata(struct line_ctx *c, unsigned i, bool saved_ok,
	    struct script_cmd *cmd, struct vdrv_data *d)
{
	const struct tok *t;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int r;

	if (i >= c->ntok)
		return perr(c, "missing DATA");
	t = &c->tok[i];
	if (!t->quoted && !strcmp(t->s, "saved")) {
		if (!saved_ok)
			return perr(c, "'saved' is only for virtio-written");
		d->kind = VDRV_DATA_SAVED;
		return 0;
	}
	if (!t->quoted && !strncmp(t->s, "pattern:", 8)) {
		unsigned long long seed, n;
		char *end;

		errno = 0;
		seed = strtoull(t->s + 8, &end, 0);
		if (errno || end == t->s + 8 || *end != ':' ||
		    seed > UINT16_MAX)
			return perr(c,
				    "invalid pattern '%s' (pattern:SEED:LEN)",
				    t->s);
		n = strtoull(end + 1, &end, 0);
		if (errno || *end || n == 0 || n > VDRV_MAX_LEN)
			return perr(c,
				    "invalid pattern length in '%s' (1 to %u)",
				    t->s, VDRV_MAX_LEN);
		d->kind = VDRV_DATA_PATTERN;
		d->seed = (uint32_t)seed;
		d->len = (uint32_t)n;
		return 0;
	}
	r = parse_data(c, i, &bytes, &len);
	if (r < 0)
		return r;
	if (len > VDRV_MAX_LEN) {
		free(bytes);
		return perr(c, "DATA longer than %u bytes", VDRV_MAX_LEN);
	}
	r = append_bytes(cmd, bytes, len, d);
	free(bytes);
	return r;
}

/* Optional "== ID" at token i. */
static int
parse_id(struct line_ctx *c, unsigned i, struct vdrv_args *a)
{
	uint64_t id;
	int r;

	if (i == c->ntok)
		return 0;
	if (!word_is(c, i, "==") || i + 2 != c->ntok)
		return perr(c, "expected '== DEVICE_ID'");
	r = parse_u64(c, i + 1, "device id", 0xffff - 0x1040, &id);
	a->has_id = true;
	a->id = (unsigned)id;
	return r;
}

static int
parse_pci(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	uint32_t sbdf;
	int r = parse_bdf(c, 1, &sbdf);

	if (r < 0)
		return r;
	cmd->addr = sbdf;
	return parse_id(c, 2, a);
}

static int
parse_mmio(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	uint64_t irq;
	int r = parse_u64(c, 1, "address", UINT64_MAX - 0x1ff, &a->value);

	(void)cmd;
	if (r < 0)
		return r;
	if (a->value & 3)
		return perr(c, "virtio-mmio base must be 4-byte aligned");
	r = parse_u64(c, 2, "ISA IRQ", 15, &irq);
	if (r < 0)
		return r;
	a->irq = (unsigned)irq;
	return parse_id(c, 3, a);
}

static int
parse_negotiate(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	int r = parse_u64(c, 1, "feature mask", UINT64_MAX, &a->value);

	if (r < 0)
		return r;
	if (word_is(c, 2, "refused")) {
		a->refused = true;
		return expect_args(c, 3, "virtio-negotiate MASK refused");
	}
	if (c->ntok == 2)
		return 0;
	if (!word_is(c, 2, "=="))
		return perr(c, "usage: virtio-negotiate MASK [== FEATURES | "
			       "refused]");
	r = expect_args(c, 4, "virtio-negotiate MASK == FEATURES");
	if (r < 0)
		return r;
	cmd->has_expect = true;
	cmd->mask = UINT64_MAX;
	return parse_u64(c, 3, "features", UINT64_MAX, &cmd->expect);
}

/* virtio-queue Q SIZE [msix V] [at GPA] [refused] */
static int
parse_queue(struct line_ctx *c, struct vdrv_args *a)
{
	unsigned i = 3;
	int r = parse_queue_index(c, 1, a);

	if (r < 0)
		return r;
	r = parse_u64(c, 2, "queue size", 1024, &a->value);
	if (r < 0)
		return r;
	if (a->value == 0 || (a->value & (a->value - 1)))
		return perr(c, "queue size must be a power of two, 1 to 1024");
	while (i < c->ntok) {
		uint64_t v;

		if (word_is(c, i, "msix") && !a->has_vector) {
			r = parse_u64(c, i + 1, "MSI-X vector", 0xffff, &v);
			a->has_vector = true;
			a->vector = (uint16_t)v;
			i += 2;
		} else if (word_is(c, i, "at") && !a->has_gpa) {
			r = parse_u64(c, i + 1, "address", UINT64_MAX, &a->gpa);
			if (r == 0 && (a->gpa & 0xf))
				r = perr(c, "rings must be 16-byte aligned");
			a->has_gpa = true;
			i += 2;
		} else if (word_is(c, i, "refused") && !a->refused) {
			a->refused = true;
			i++;
		} else {
			return perr(c, "usage: virtio-queue Q SIZE [msix V] "
				       "[at GPA] [refused]");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* virtio-submit Q [indirect] [nokick] (out DATA | in LEN) [at GPA] ... */
static int
parse_submit(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	unsigned i = 2;
	int r = parse_queue_index(c, 1, a);

	if (r < 0)
		return r;
	for (;; i++) {
		if (word_is(c, i, "indirect") && !a->indirect)
			a->indirect = true;
		else if (word_is(c, i, "nokick") && !a->nokick)
			a->nokick = true;
		else
			break;
	}
	while (i < c->ntok) {
		struct vdrv_buf_arg *b = &a->bufs[a->nbufs];
		uint64_t len;

		if (a->nbufs == VDRV_MAX_BUFS)
			return perr(c, "more than %u buffers", VDRV_MAX_BUFS);
		if (word_is(c, i, "out")) {
			r = parse_vdata(c, i + 1, false, cmd, &b->data);
		} else if (word_is(c, i, "in")) {
			b->writable = true;
			r = parse_u64(c, i + 1, "buffer length", VDRV_MAX_LEN,
				      &len);
			b->data.len = (uint32_t)len;
		} else {
			return perr(c,
				    "expected 'out DATA' or 'in LEN', got "
				    "'%s'",
				    c->tok[i].s);
		}
		if (r < 0)
			return r;
		i += 2;
		if (word_is(c, i, "at")) {
			r = parse_u64(c, i + 1, "address", UINT64_MAX, &b->gpa);
			if (r < 0)
				return r;
			b->has_gpa = true;
			i += 2;
		}
		a->nbufs++;
	}
	if (a->nbufs == 0)
		return perr(c, "usage: virtio-submit Q [indirect] [nokick] "
			       "(out DATA | in LEN) [at GPA] ...");
	return 0;
}

/* virtio-wait Q [== LEN] [MS] */
static int
parse_wait(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	unsigned i = 2;
	int r = parse_queue_index(c, 1, a);

	if (r < 0)
		return r;
	a->value = VDRV_WAIT_MS;
	if (word_is(c, i, "==")) {
		cmd->has_expect = true;
		cmd->mask = UINT32_MAX;
		r = parse_u64(c, i + 1, "used length", UINT32_MAX,
			      &cmd->expect);
		if (r < 0)
			return r;
		i += 2;
	}
	if (i < c->ntok) {
		r = parse_u64(c, i, "milliseconds", SCRIPT_MAX_SLEEP_MS,
			      &a->value);
		if (r < 0)
			return r;
		i++;
	}
	if (i != c->ntok)
		return perr(c, "usage: virtio-wait Q [== LEN] [MS]");
	return 0;
}

/* virtio-written N == DATA | N != DATA | N save */
static int
parse_written(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	uint64_t n;
	int r = parse_u64(c, 1, "buffer number", VDRV_MAX_BUFS - 1, &n);

	if (r < 0)
		return r;
	a->index = (unsigned)n;
	if (word_is(c, 2, "save")) {
		a->wmode = VDRV_W_SAVE;
		return expect_args(c, 3, "virtio-written N save");
	}
	if (word_is(c, 2, "=="))
		a->wmode = VDRV_W_EQ;
	else if (word_is(c, 2, "!="))
		a->wmode = VDRV_W_NE;
	else
		return perr(c, "usage: virtio-written N ==|!= DATA | N save");
	r = expect_args(c, 4, "virtio-written N ==|!= DATA");
	if (r < 0)
		return r;
	return parse_vdata(c, 3, true, cmd, &a->data);
}

/* An optional MS at token i (default VDRV_QUIET_MS). */
static int
parse_quiet_ms(struct line_ctx *c, unsigned i, struct vdrv_args *a,
	       const char *usage)
{
	a->value = VDRV_QUIET_MS;
	if (i == c->ntok)
		return 0;
	if (i + 1 != c->ntok)
		return perr(c, "usage: %s", usage);
	return parse_u64(c, i, "milliseconds", SCRIPT_MAX_SLEEP_MS, &a->value);
}

static int
parse_hostile(struct line_ctx *c, struct vdrv_args *a)
{
	int r;

	if (c->ntok != 3 && !(c->ntok == 4 && word_is(c, 3, "nokick")))
		return perr(c, "usage: virtio-hostile Q KIND [nokick]");
	r = parse_queue_index(c, 1, a);
	if (r < 0)
		return r;
	a->nokick = c->ntok == 4;
	for (unsigned k = 0; k < _VDRV_H_COUNT; k++)
		if (word_is(c, 2, hostile_names[k])) {
			a->hostile = (enum vdrv_hostile)k;
			return 0;
		}
	return perr(c, "unknown hostile request '%s'", c->tok[2].s);
}

static int
parse_args(struct line_ctx *c, struct script_cmd *cmd, struct vdrv_args *a)
{
	uint64_t v = 0;
	int r;

	switch (a->op) {
	case VDRV_PCI:
		return parse_pci(c, cmd, a);
	case VDRV_MMIO:
		return parse_mmio(c, cmd, a);
	case VDRV_RESET:
	case VDRV_DRIVER_OK:
		return expect_args(c, 1, cmd->verb);
	case VDRV_FEATURES:
	case VDRV_DRIVER_FEATURES:
		if (c->ntok == 1)
			return perr(c, "usage: %s [& MASK] == VALUE",
				    cmd->verb);
		return parse_expect(c, 1, 8, cmd);
	case VDRV_NEGOTIATE:
		return parse_negotiate(c, cmd, a);
	case VDRV_WRITE_FEATURES:
		r = expect_args(c, 2, "virtio-write-features VALUE");
		return r < 0 ? r :
			       parse_u64(c, 1, "features", UINT64_MAX,
					 &a->value);
	case VDRV_MSIX:
		r = expect_args(c, 2, "virtio-msix N");
		if (r == 0)
			r = parse_u64(c, 1, "vector count", 2048, &a->value);
		if (r == 0 && a->value == 0)
			r = perr(c, "vector count must not be 0");
		return r;
	case VDRV_CONFIG_VECTOR:
		r = expect_args(c, 2, "virtio-config-vector V");
		if (r == 0)
			r = parse_u64(c, 1, "MSI-X vector", 0xffff, &v);
		a->vector = (uint16_t)v;
		return r;
	case VDRV_QUEUE:
		return parse_queue(c, a);
	case VDRV_QUEUE_RESET:
	case VDRV_KICK:
		r = expect_args(c, 2, "virtio-... Q");
		return r < 0 ? r : parse_queue_index(c, 1, a);
	case VDRV_STATUS:
		return parse_expect(c, 1, 1, cmd);
	case VDRV_CONFIG_READ:
		r = parse_u64(c, 1, "config offset", 0xfff, &a->off);
		return r < 0 ? r : parse_expect(c, 2, cmd->size, cmd);
	case VDRV_CONFIG_WRITE:
		r = expect_args(c, 3, "virtio-config-writeX OFF VALUE");
		if (r == 0)
			r = parse_u64(c, 1, "config offset", 0xfff, &a->off);
		if (r == 0)
			r = parse_u64(c, 2, "value", size_mask(cmd->size),
				      &a->value);
		return r;
	case VDRV_SUBMIT:
		return parse_submit(c, cmd, a);
	case VDRV_WAIT:
		return parse_wait(c, cmd, a);
	case VDRV_WRITTEN:
		return parse_written(c, cmd, a);
	case VDRV_IRQ:
		r = expect_args(c, 2, "virtio-irq Q|config");
		if (r < 0)
			return r;
		if (word_is(c, 1, "config")) {
			a->config = true;
			return 0;
		}
		return parse_queue_index(c, 1, a);
	case VDRV_NO_IRQ:
		return parse_quiet_ms(c, 1, a, "virtio-no-irq [MS]");
	case VDRV_SUPPRESS:
		r = expect_args(c, 3, "virtio-suppress Q on|off");
		if (r == 0)
			r = parse_queue_index(c, 1, a);
		if (r == 0 && !word_is(c, 2, "on") && !word_is(c, 2, "off"))
			r = perr(c, "expected 'on' or 'off', got '%s'",
				 c->tok[2].s);
		a->on = word_is(c, 2, "on");
		return r;
	case VDRV_GRANT:
		r = expect_args(c, 2, "virtio-grant-dma on|off");
		if (r == 0 && !word_is(c, 1, "on") && !word_is(c, 1, "off"))
			r = perr(c, "expected 'on' or 'off', got '%s'",
				 c->tok[1].s);
		a->on = word_is(c, 1, "on");
		return r;
	case VDRV_HOSTILE:
		return parse_hostile(c, a);
	case VDRV_AVAIL_JUMP:
		r = expect_args(c, 3, "virtio-avail-jump Q N");
		if (r == 0)
			r = parse_queue_index(c, 1, a);
		if (r == 0)
			r = parse_u64(c, 2, "count", 0xffff, &a->value);
		return r;
	case VDRV_NO_USED:
		if (c->ntok < 2)
			return perr(c, "usage: virtio-no-used Q [MS]");
		r = parse_queue_index(c, 1, a);
		return r < 0 ? r :
			       parse_quiet_ms(c, 2, a, "virtio-no-used Q [MS]");
	case VDRV_BENCH_BLK:
		r = expect_args(
			c, 6,
			"virtio-bench-blk Q COUNT DEPTH read|write BLOCKS");
		if (r == 0)
			r = parse_queue_index(c, 1, a);
		if (r == 0)
			r = parse_u64(c, 2, "request count", UINT32_MAX,
				      &a->count);
		if (r == 0)
			r = parse_u64(c, 3, "queue depth", 1024, &a->depth);
		if (r == 0 && !word_is(c, 4, "read") && !word_is(c, 4, "write"))
			r = perr(c, "expected 'read' or 'write', got '%s'",
				 c->tok[4].s);
		a->write = word_is(c, 4, "write");
		if (r == 0)
			r = parse_u64(c, 5, "4 KiB blocks", UINT32_MAX,
				      &a->blocks);
		if (r == 0 && (!a->count || !a->depth || !a->blocks))
			r = perr(c, "COUNT, DEPTH and BLOCKS must not be 0");
		return r;
	default:
		return perr(c, "unknown virtio command");
	}
}

static const struct {
	const char *name;
	enum vdrv_op op;
} virtio_verbs[] = {
	{ "virtio-pci", VDRV_PCI },
	{ "virtio-mmio", VDRV_MMIO },
	{ "virtio-reset", VDRV_RESET },
	{ "virtio-features", VDRV_FEATURES },
	{ "virtio-negotiate", VDRV_NEGOTIATE },
	{ "virtio-write-features", VDRV_WRITE_FEATURES },
	{ "virtio-driver-features", VDRV_DRIVER_FEATURES },
	{ "virtio-msix", VDRV_MSIX },
	{ "virtio-config-vector", VDRV_CONFIG_VECTOR },
	{ "virtio-queue", VDRV_QUEUE },
	{ "virtio-queue-reset", VDRV_QUEUE_RESET },
	{ "virtio-driver-ok", VDRV_DRIVER_OK },
	{ "virtio-status", VDRV_STATUS },
	{ "virtio-config-readb", VDRV_CONFIG_READ },
	{ "virtio-config-readw", VDRV_CONFIG_READ },
	{ "virtio-config-readl", VDRV_CONFIG_READ },
	{ "virtio-config-writeb", VDRV_CONFIG_WRITE },
	{ "virtio-config-writew", VDRV_CONFIG_WRITE },
	{ "virtio-config-writel", VDRV_CONFIG_WRITE },
	{ "virtio-submit", VDRV_SUBMIT },
	{ "virtio-kick", VDRV_KICK },
	{ "virtio-wait", VDRV_WAIT },
	{ "virtio-written", VDRV_WRITTEN },
	{ "virtio-irq", VDRV_IRQ },
	{ "virtio-no-irq", VDRV_NO_IRQ },
	{ "virtio-suppress", VDRV_SUPPRESS },
	{ "virtio-hostile", VDRV_HOSTILE },
	{ "virtio-avail-jump", VDRV_AVAIL_JUMP },
	{ "virtio-no-used", VDRV_NO_USED },
	{ "virtio-grant-dma", VDRV_GRANT },
	{ "virtio-bench-blk", VDRV_BENCH_BLK },
};

int
parse_virtio(struct line_ctx *c, struct script_cmd *cmd)
{
	struct vdrv_args *a = calloc(1, sizeof(*a));
	size_t k;
	int r;

	if (!a)
		return -ENOMEM;
	cmd->vargs = a;
	for (k = 0; k < sizeof(virtio_verbs) / sizeof(virtio_verbs[0]); k++)
		if (!strcmp(virtio_verbs[k].name, cmd->verb))
			break;
	if (k == sizeof(virtio_verbs) / sizeof(virtio_verbs[0]))
		return perr(c, "unknown virtio command '%s'", cmd->verb);
	a->op = virtio_verbs[k].op;
	r = parse_args(c, cmd, a);
	return r;
}
