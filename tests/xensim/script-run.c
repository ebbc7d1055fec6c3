/*
 * Running a parsed script as the guest: accesses, memory, interrupts,
 * files, timing and counters, through the hypervisor core (hv.h).  A
 * failed expectation is reported and counted; an access that cannot
 * complete aborts the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "script-internal.h"
#include "vdrv.h"

void
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
void
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
bool
check_status(struct script *s, const struct script_cmd *cmd, enum hv_status st)
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
		fail(s, cmd,
		     "%s with valid arguments, got an access the "
		     "hypervisor rejects",
		     cmd->verb);
		return false;
	}
	s->aborted = true;
	return false;
}

void
check_value(struct script *s, const struct script_cmd *cmd, const char *what,
	    uint64_t got)
{
	if (!cmd->has_expect || (got & cmd->mask) == cmd->expect)
		return;
	if (cmd->mask == size_mask(cmd->size))
		fail(s, cmd, "%s == %#" PRIx64 ", got %#" PRIx64, what,
		     cmd->expect, got);
	else
		fail(s, cmd,
		     "%s & %#" PRIx64 " == %#" PRIx64 ", got %#" PRIx64
		     " (& %#" PRIx64 " = %#" PRIx64 ")",
		     what, cmd->mask, cmd->expect, got, cmd->mask,
		     got & cmd->mask);
}

static void
run_pio(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t v = cmd->value;
	char what[64];

	if (!check_status(s, cmd,
			  hv_pio(hv, s->vcpu, (uint16_t)cmd->addr, cmd->size,
				 cmd->is_read, &v)))
		return;
	snprintf(what, sizeof(what), "%s %#" PRIx64, cmd->verb, cmd->addr);
	check_value(s, cmd, what, v & size_mask(cmd->size));
}

static void
run_mmio(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	uint64_t v = cmd->value;
	char what[64];

	if (!check_status(s, cmd,
			  hv_mmio(hv, s->vcpu, cmd->addr, cmd->size,
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
	if (!check_status(s, cmd,
			  hv_pio(hv, s->vcpu,
				 (uint16_t)(0xcfc + (cmd->off & 3)), cmd->size,
				 cmd->is_read, &v)))
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
		fail(s, cmd,
		     "guest RAM at [%#" PRIx64 ", +%#" PRIx64
		     "), got an address outside RAM",
		     gpa, len);
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
			fail(s, cmd,
			     "memread %#" PRIx64 " %" PRIu64
			     " == \"%s\", got \"%s\"",
			     cmd->addr, len, want, got);
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
	check_status(s, cmd,
		     hv_rep_pio(hv, s->vcpu, (uint16_t)cmd->addr, cmd->size,
				cmd->is_read, cmd->off, (uint32_t)cmd->value,
				s->df));
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
run_expect_no_irq(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	struct hv_injection j;
	char got[96];

	if (!hv_peek_injection(hv, &j))
		return;
	describe_irq(&j, got, sizeof(got));
	fail(s, cmd, "no unconsumed injection, got %s", got);
}

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

			if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) ==
				    1 ||
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
		fail(s, cmd,
		     "no dm_op and no wake-up of the device model in "
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
run_expect_count(struct script *s, struct hv *hv, const struct script_cmd *cmd)
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

void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t
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
run_hv_simple(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	int r;

	switch (cmd->op) {
	case OP_BUFWRITE:
		check_status(s, cmd,
			     hv_buffered_write(hv, s->vcpu, cmd->addr,
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

static void
run_one(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	switch (cmd->op) {
	case OP_VCPU:
		s->vcpu = (unsigned)cmd->value;
		break;
	case OP_PIO:
		run_pio(s, hv, cmd);
		break;
	case OP_MMIO:
		run_mmio(s, hv, cmd);
		break;
	case OP_CFG:
		run_cfg(s, hv, cmd);
		break;
	case OP_MEMWRITE:
	case OP_MEMREAD:
	case OP_MEMSET:
		run_mem(s, hv, cmd);
		break;
	case OP_REP:
		run_rep(s, hv, cmd);
		break;
	case OP_STD:
		s->df = true;
		break;
	case OP_CLD:
		s->df = false;
		break;
	case OP_EXPECT_IRQ:
		run_expect_irq(s, hv, cmd);
		break;
	case OP_EXPECT_NO_IRQ:
		run_expect_no_irq(s, hv, cmd);
		break;
	case OP_SLEEP:
		sleep_ms(cmd->value);
		break;
	case OP_EXPECT_IDLE:
		run_expect_idle(s, hv, cmd);
		break;
	case OP_COUNT_RESET:
		run_count_reset(s, hv);
		break;
	case OP_EXPECT_COUNT:
		run_expect_count(s, hv, cmd);
		break;
	case OP_FUZZ:
		run_fuzz(s, hv, cmd);
		break;
	case OP_DESTROY:
		hv_destroy_domain(hv);
		s->destroyed = true;
		break;
	case OP_BENCH:
		run_bench(s, hv, cmd);
		break;
	case OP_ECHO:
		printf("%s\n", cmd->str);
		fflush(stdout);
		break;
	case OP_WAIT_FILE:
		run_wait_file(s, cmd);
		break;
	case OP_EXPECT_FILE:
		run_expect_file(s, cmd);
		break;
	case OP_CONNECT:
		run_connect(s, cmd);
		break;
	case OP_SEND:
		run_send(s, cmd);
		break;
	case OP_SOCK_EXPECT:
		run_sock_expect(s, cmd);
		break;
	case OP_SOCK_CLOSE:
		run_sock_close(s);
		break;
	case OP_PCI_SCAN:
		run_pci_scan(s, hv, cmd);
		break;
	case OP_PCI_SETUP:
		run_pci_setup(s, hv, cmd);
		break;
	case OP_VIRTIO:
		vdrv_run(s, hv, cmd);
		break;
	default:
		run_hv_simple(s, hv, cmd);
		break;
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
