/*
 * Guest-side test program for the real-Xen harness, built static on the
 * host and run from the guests' busybox initramfs.  It talks to the ports
 * ioreqd claims with plain in/out instructions (iopl(3)), and prints one
 * "IOTEST <name> PASS|FAIL ..." line per check on stdout, /dev/kmsg and
 * Xen's debug port 0xe9, so the result reaches every console of the guest
 * and Xen's log.
 *
 *   iotest pvh            debug port writes, rep outsb both directions,
 *                         scratch register, unclaimed port
 *   iotest hvm            same against ioreqd plus a QEMU-owned port
 *   iotest hammer A B N   two threads pinned to CPUs 0 and 1 write and
 *                         read back the scratch registers at A and B
 *   iotest bench N P1 P2 P3  time N reads of each port, print ns per read
 *   iotest e9 TEXT...     write one line to Xen's debug console port 0xe9
 *                         (it appears in `xl dmesg` as "(dN) TEXT")
 *   iotest blkbench LABEL DEV SECONDS QD read|write OFF_MIB LEN_MIB
 *                         4 KiB random O_DIRECT reads or writes on DEV
 *                         within [OFF_MIB, OFF_MIB + LEN_MIB) MiB for
 *                         SECONDS, QD at a time (one thread each, so the
 *                         block layer sees QD requests), prints IOPS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#define DEBUGCON_PORT 0x402
#define DEBUGCON_READ 0xe9

static int kmsg_fd = -1;
static int failures;
static int have_iopl;

static void out_string(uint16_t port, const char *s);

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, n) < 0)
		return;
	if (kmsg_fd >= 0 && write(kmsg_fd, line, n) < 0)
		return;
	/* Xen's debug port: dom0 reads it back with `xl dmesg`. */
	if (have_iopl) {
		line[n] = '\0';
		out_string(0xe9, line);
	}
}

static void check(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
check(const char *name, int ok, const char *fmt, ...)
{
	char detail[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	say("IOTEST %s %s %s", name, ok ? "PASS" : "FAIL", detail);
	if (!ok)
		failures++;
}

static void
out_string(uint16_t port, const char *s)
{
	while (*s)
		outb((unsigned char)*s++, port);
}

/* rep outsb with the direction flag clear: bytes leave in memory order. */
static void
rep_outsb_up(uint16_t port, const void *buf, unsigned long n)
{
	__asm__ volatile("cld; rep outsb"
			 : "+S"(buf), "+c"(n)
			 : "d"(port)
			 : "memory");
}

/* rep outsb with the direction flag set: bytes leave from the last one
 * down, so the device sees the buffer reversed. */
static void
rep_outsb_down(uint16_t port, const void *last, unsigned long n)
{
	__asm__ volatile("std; rep outsb; cld"
			 : "+S"(last), "+c"(n)
			 : "d"(port)
			 : "memory", "cc");
}

static void
rep_insb_up(uint16_t port, void *buf, unsigned long n)
{
	__asm__ volatile("cld; rep insb"
			 : "+D"(buf), "+c"(n)
			 : "d"(port)
			 : "memory");
}

static void
debugcon_checks(void)
{
	static const char up[] = "DBG-REP-OUTSB-OK\n";
	static const char want_down[] = "DBG-REP-OUTSB-DF1-OK\n";
	char down[sizeof(want_down)];
	unsigned char in[16];
	size_t n = strlen(want_down), i;
	int all_e9 = 1;
	uint8_t v;

	out_string(DEBUGCON_PORT, "DBG-OUTB-OK\n");
	rep_outsb_up(DEBUGCON_PORT, up, strlen(up));
	for (i = 0; i < n; i++)
		down[i] = want_down[n - 1 - i];
	rep_outsb_down(DEBUGCON_PORT, &down[n - 1], n);

	v = inb(DEBUGCON_PORT);
	check("debugcon-read", v == DEBUGCON_READ,
	      "inb(0x402)=0x%02x want 0x%02x", v, DEBUGCON_READ);
	memset(in, 0, sizeof(in));
	rep_insb_up(DEBUGCON_PORT, in, sizeof(in));
	for (i = 0; i < sizeof(in); i++)
		if (in[i] != DEBUGCON_READ)
			all_e9 = 0;
	check("debugcon-rep-insb", all_e9, "16 bytes, first 0x%02x last 0x%02x",
	      in[0], in[sizeof(in) - 1]);
	say("IOTEST debugcon-writes DONE (checked by the host in the backend file)");
}

static void
scratch_check(const char *name, uint16_t port)
{
	static const uint8_t pattern[] = { 0x00, 0xff, 0x5a, 0xa5, 0x01, 0x80 };
	size_t i;

	for (i = 0; i < sizeof(pattern); i++) {
		uint8_t v;

		outb(pattern[i], port);
		v = inb(port);
		if (v != pattern[i]) {
			check(name, 0, "port 0x%x wrote 0x%02x read 0x%02x",
			      port, pattern[i], v);
			return;
		}
	}
	check(name, 1, "port 0x%x %zu patterns", port, sizeof(pattern));
}

static void
unclaimed_check(uint16_t port)
{
	uint8_t b = inb(port);
	uint16_t w = inw(port);
	uint32_t l = inl(port);

	check("unclaimed-all-ones",
	      b == 0xff && w == 0xffff && l == 0xffffffffu,
	      "port 0x%x b=0x%02x w=0x%04x l=0x%08x", port, b, w, l);
}

static int
cmd_pvh(void)
{
	debugcon_checks();
	scratch_check("uart-scratch", 0x3ff);
	unclaimed_check(0x6100);
	return failures ? 1 : 0;
}

static int
cmd_hvm(void)
{
	uint8_t kbd;

	debugcon_checks();
	scratch_check("uart-scratch", 0x3ff);
	/* QEMU's i8042 stays QEMU's: its status register never reads as
	 * all ones, which is what a port nobody serves would return. */
	kbd = inb(0x64);
	check("qemu-i8042-status", kbd != 0xff, "inb(0x64)=0x%02x", kbd);
	unclaimed_check(0x6100);
	return failures ? 1 : 0;
}

struct hammer {
	int cpu;
	uint16_t port;
	unsigned long rounds;
	unsigned long errors;
	unsigned long done;
	int actual_cpu;
	uint8_t first_bad_want, first_bad_got;
};

static void *
hammer_thread(void *arg)
{
	struct hammer *h = arg;
	cpu_set_t set;
	unsigned long i;

	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		say("IOTEST hammer cpu %d: sched_setaffinity: %s", h->cpu,
		    strerror(errno));
	h->actual_cpu = sched_getcpu();
	for (i = 0; i < h->rounds; i++) {
		uint8_t want = (uint8_t)(i * 7 + h->cpu * 0x55);
		uint8_t got;

		outb(want, h->port);
		got = inb(h->port);
		if (got != want) {
			if (!h->errors) {
				h->first_bad_want = want;
				h->first_bad_got = got;
			}
			h->errors++;
		}
		h->done++;
	}
	return NULL;
}

static int
cmd_hammer(uint16_t a, uint16_t b, unsigned long rounds)
{
	struct hammer h[2] = {
		{ .cpu = 0, .port = a, .rounds = rounds },
		{ .cpu = 1, .port = b, .rounds = rounds },
	};
	pthread_t t[2];
	struct timespec t0, t1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int i;

	check("hammer-cpus", ncpu >= 2, "online cpus %ld", ncpu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, hammer_thread, &h[i]) != 0) {
			check("hammer-thread", 0, "pthread_create failed");
			return 1;
		}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < 2; i++)
		check(i ? "hammer-vcpu1" : "hammer-vcpu0",
		      h[i].errors == 0 && h[i].done == rounds,
		      "cpu %d port 0x%x rounds %lu errors %lu (first want 0x%02x got 0x%02x)",
		      h[i].actual_cpu, h[i].port, h[i].done, h[i].errors,
		      h[i].first_bad_want, h[i].first_bad_got);
	say("IOTEST hammer %lu round trips in %.2f s", 4 * rounds,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return failures ? 1 : 0;
}

static double
time_reads(uint16_t port, unsigned long n)
{
	struct timespec t0, t1;
	unsigned long i;
	volatile uint8_t sink;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		sink = inb(port);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	(void)sink;
	return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		(double)(t1.tv_nsec - t0.tv_nsec)) /
	       (double)n;
}

static int
cmd_bench(unsigned long n, uint16_t ioreqd_port, uint16_t qemu_port,
	  uint16_t free_port)
{
	double a, b, c;

	/* Warm up every path once so page faults and first-touch costs in
	 * the device models stay out of the figures. */
	time_reads(ioreqd_port, 16);
	time_reads(qemu_port, 16);
	time_reads(free_port, 16);
	a = time_reads(ioreqd_port, n);
	b = time_reads(qemu_port, n);
	c = time_reads(free_port, n);
	say("BENCH reads=%lu ioreqd(0x%x)=%.0f ns qemu(0x%x)=%.0f ns xen-unclaimed(0x%x)=%.0f ns",
	    n, ioreqd_port, a, qemu_port, b, free_port, c);
	say("BENCH ratio ioreqd/qemu=%.2f ioreqd/unclaimed=%.2f qemu/unclaimed=%.2f",
	    a / b, a / c, b / c);
	return 0;
}

struct blk_worker {
	pthread_t thread;
	int fd;
	int write;
	unsigned seed;
	uint64_t off, len; /* bytes */
	struct timespec end;
	unsigned long ops, errors;
};

static int
before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *
blk_thread(void *arg)
{
	struct blk_worker *w = arg;
	struct timespec now;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096) != 0)
		return NULL;
	memset(buf, 0x5a, 4096);
	for (;;) {
		uint64_t blocks = w->len / 4096;
		off_t at = (off_t)(w->off + (rand_r(&w->seed) % blocks) * 4096);
		ssize_t n = w->write ? pwrite(w->fd, buf, 4096, at) :
				       pread(w->fd, buf, 4096, at);

		if (n == 4096)
			w->ops++;
		else
			w->errors++;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &w->end))
			break;
	}
	free(buf);
	return NULL;
}

static int
cmd_blkbench(const char *label, const char *dev, unsigned seconds, unsigned qd,
	     const char *op, unsigned off_mib, unsigned len_mib)
{
	struct blk_worker w[64];
	struct timespec t0, t1;
	unsigned long ops = 0, errors = 0;
	double secs;
	int fd;

	if (qd == 0 || qd > 64 || len_mib == 0 || seconds == 0)
		return 2;
	fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		say("IOTEST blkbench FAIL open %s: %s", dev, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < qd; i++) {
		w[i] = (struct blk_worker){
			.fd = fd,
			.write = !strcmp(op, "write"),
			.seed = 12345 + i,
			.off = (uint64_t)off_mib << 20,
			.len = (uint64_t)len_mib << 20,
			.end = { t0.tv_sec + seconds, t0.tv_nsec },
		};
		if (pthread_create(&w[i].thread, NULL, blk_thread, &w[i]) !=
		    0) {
			say("IOTEST blkbench FAIL pthread_create");
			qd = i;
			break;
		}
	}
	for (unsigned i = 0; i < qd; i++) {
		pthread_join(w[i].thread, NULL);
		ops += w[i].ops;
		errors += w[i].errors;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	say("BENCH blk %s qd=%u op=%s ops=%lu errors=%lu seconds=%.1f iops=%.0f",
	    label, qd, op, ops, errors, secs, (double)ops / secs);
	return errors ? 1 : 0;
}

static unsigned long
num(const char *s)
{
	return strtoul(s, NULL, 0);
}

int
main(int argc, char **argv)
{
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (argc < 2) {
		fprintf(stderr, "usage: iotest pvh|hvm|hammer|bench ...\n");
		return 2;
	}
	/* Block I/O needs no ports: without iopl, say() skips 0xe9. */
	if (!strcmp(argv[1], "blkbench") && argc == 9) {
		have_iopl = iopl(3) == 0;
		return cmd_blkbench(argv[2], argv[3], (unsigned)num(argv[4]),
				    (unsigned)num(argv[5]), argv[6],
				    (unsigned)num(argv[7]),
				    (unsigned)num(argv[8]));
	}
	if (iopl(3) != 0) {
		say("IOTEST iopl FAIL %s", strerror(errno));
		return 1;
	}
	have_iopl = 1;
	if (!strcmp(argv[1], "e9")) {
		for (int i = 2; i < argc; i++) {
			out_string(0xe9, argv[i]);
			outb(i + 1 < argc ? ' ' : '\n', 0xe9);
		}
		return 0;
	}
	if (!strcmp(argv[1], "pvh"))
		return cmd_pvh();
	if (!strcmp(argv[1], "hvm"))
		return cmd_hvm();
	if (!strcmp(argv[1], "hammer") && argc == 5)
		return cmd_hammer((uint16_t)num(argv[2]),
				  (uint16_t)num(argv[3]), num(argv[4]));
	if (!strcmp(argv[1], "bench") && argc == 6)
		return cmd_bench(num(argv[2]), (uint16_t)num(argv[3]),
				 (uint16_t)num(argv[4]),
				 (uint16_t)num(argv[5]));
	fprintf(stderr, "iotest: bad arguments\n");
	return 2;
}
