/*
 * Parsing a script into a program: one table of verbs, each with the
 * parser of its arguments, and the `repeat N` prefix.  The whole text is
 * parsed, and every malformed line reported, before anything runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "script-internal.h"
#include "vdrv.h"

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
	int r = expect_args(
		c, 7, "bench-io VCPUS COUNT pio|mmio read|write ADDR SIZE");

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
	r = parse_u64(c, 5, "address", b->mmio ? UINT64_MAX : 0xffff, &b->addr);
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
		return perr(c,
			    "usage: pci-scan [== \"BB:DD.F VVVV:DDDD ...\"]");
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
	if (c->tok[2].quoted ||
	    (strcmp(c->tok[2].s, "==") && strcmp(c->tok[2].s, "<=")))
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
	/* The virtio driver (extension), script-virtio.c. */
	{ "virtio-pci", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-mmio", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-reset", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-features", OP_VIRTIO, 8, true, parse_virtio },
	{ "virtio-negotiate", OP_VIRTIO, 8, false, parse_virtio },
	{ "virtio-write-features", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-driver-features", OP_VIRTIO, 8, true, parse_virtio },
	{ "virtio-msix", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-config-vector", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-queue", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-queue-reset", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-driver-ok", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-status", OP_VIRTIO, 1, true, parse_virtio },
	{ "virtio-config-readb", OP_VIRTIO, 1, true, parse_virtio },
	{ "virtio-config-readw", OP_VIRTIO, 2, true, parse_virtio },
	{ "virtio-config-readl", OP_VIRTIO, 4, true, parse_virtio },
	{ "virtio-config-writeb", OP_VIRTIO, 1, false, parse_virtio },
	{ "virtio-config-writew", OP_VIRTIO, 2, false, parse_virtio },
	{ "virtio-config-writel", OP_VIRTIO, 4, false, parse_virtio },
	{ "virtio-submit", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-kick", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-wait", OP_VIRTIO, 4, true, parse_virtio },
	{ "virtio-written", OP_VIRTIO, 0, true, parse_virtio },
	{ "virtio-irq", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-no-irq", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-suppress", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-hostile", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-avail-jump", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-no-used", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-grant-dma", OP_VIRTIO, 0, false, parse_virtio },
	{ "virtio-bench-blk", OP_VIRTIO, 0, false, parse_virtio },
};

static void
cmd_clear(struct script_cmd *cmd)
{
	free(cmd->data);
	free(cmd->str);
	free(cmd->vargs);
	cmd->data = NULL;
	cmd->str = NULL;
	cmd->vargs = NULL;
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
	copy->vargs = NULL;
	if (cmd->vargs) {
		copy->vargs = malloc(sizeof(*copy->vargs));
		if (!copy->vargs)
			return -ENOMEM;
		*copy->vargs = *cmd->vargs;
	}
	if (cmd->data) {
		copy->data = malloc(cmd->data_len + 1);
		if (!copy->data) {
			free(copy->vargs);
			return -ENOMEM;
		}
		memcpy(copy->data, cmd->data, cmd->data_len + 1);
	}
	if (cmd->str) {
		copy->str = strdup(cmd->str);
		if (!copy->str) {
			free(copy->data);
			free(copy->vargs);
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
		r = parse_u64(c, 1, "repeat count", SCRIPT_MAX_REPEAT, &repeat);
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
		if (lex_line(&c, line, scratch) < 0 || parse_tokens(&c, s) < 0)
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
	vdrv_free(s->vdrv);
	free(s->cmds);
	free(s->rx);
	free(s->name);
	free(s);
}
