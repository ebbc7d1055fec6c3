/*
 * Tests of xensim's hypervisor core through hv.h, against test-emu (a
 * device model using the real Xen API on the drop-in libraries).
 * Usage: test-hv LIB_DIR TEST_EMU
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hv.h"

static int failures;
static const char *lib_dir, *emu;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			failures++;                                            \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                        \
	do {                                                                  \
		unsigned long long a_ = (a), b_ = (b);                        \
		if (a_ != b_) {                                               \
			fprintf(stderr, "%s:%d: %s == 0x%llx, want 0x%llx\n", \
				__FILE__, __LINE__, #a, a_, b_);              \
			failures++;                                           \
		}                                                             \
	} while (0)

static uint64_t
in(struct hv *hv, unsigned vcpu, uint16_t port, unsigned size)
{
	uint64_t v = 0x1234;

	CHECK_EQ(hv_pio(hv, vcpu, port, size, true, &v), HV_OK);
	return v;
}

static void
out(struct hv *hv, unsigned vcpu, uint16_t port, unsigned size, uint64_t v)
{
	CHECK_EQ(hv_pio(hv, vcpu, port, size, false, &v), HV_OK);
}

static uint32_t
stat(struct hv *hv, unsigned i)
{
	return (uint32_t)in(hv, 0, (uint16_t)(0x200 + 4 * i), 4);
}

static void
cmd(struct hv *hv, uint32_t c)
{
	out(hv, 0, 0x23c, 4, c);
}

static struct hv *
start(unsigned vcpus, const char *bufioreq)
{
	struct hv_config cfg = { .domid = 1,
				 .vcpus = vcpus,
				 .memory = 64ULL << 20,
				 .timeout_ms = 1000,
				 .trace = getenv("TEST_HV_TRACE") ? stderr :
								    NULL };
	char *argv[] = { (char *)emu, (char *)bufioreq, "1", NULL };
	struct hv *hv = NULL;

	if (hv_create(&cfg, &hv) < 0 || hv_spawn(hv, lib_dir, argv) < 0) {
		fprintf(stderr, "cannot start\n");
		exit(1);
	}
	if (hv_wait_ready(hv, 5000) < 0) {
		fprintf(stderr, "device model not ready\n");
		exit(1);
	}
	return hv;
}

static void
stop_clean(struct hv *hv)
{
	char msg[256];
	int status;

	if (hv_stop_child(hv, 5000, &status, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "stop: %s\n", msg);
		failures++;
	}
	CHECK_EQ(hv_server_count(hv), 0);
	hv_destroy(hv);
}

static void
test_basic(struct hv *hv)
{
	uint64_t v;

	out(hv, 0, 0x100, 4, 0xdeadbeef);
	CHECK_EQ(in(hv, 0, 0x100, 4), 0xdeadbeef);
	CHECK_EQ(in(hv, 1, 0x102, 2), 0xdead);
	CHECK_EQ(in(hv, 0, 0x100, 1), 0xef);
	/* unclaimed */
	CHECK_EQ(in(hv, 0, 0x3f8, 1), 0xff);
	CHECK_EQ(in(hv, 0, 0x3f8, 4), 0xffffffff);
	out(hv, 0, 0x3f8, 1, 0x41);
	/* Xen-internal even though claimed */
	CHECK_EQ(in(hv, 0, 0x70, 1), 0xff);
	CHECK_EQ(in(hv, 0, 0xe9, 1), 0xff);
	/* merged adjacent claims: 0x112..0x115 spans both */
	CHECK_EQ(in(hv, 0, 0x112, 4), 0xab12);
	/* straddling claimed/unclaimed */
	CHECK_EQ(in(hv, 0, 0x107, 2), 0xffff);
	/* bad args */
	v = 0;
	CHECK_EQ(hv_pio(hv, 0, 0x100, 8, true, &v), HV_BAD_ARG);
	CHECK_EQ(hv_pio(hv, 9, 0x100, 1, true, &v), HV_BAD_ARG);
	/* MMIO */
	v = 0x1122334455667788ULL;
	CHECK_EQ(hv_mmio(hv, 0, 0xe0000008, 8, false, &v), HV_OK);
	v = 0;
	CHECK_EQ(hv_mmio(hv, 1, 0xe0000008, 8, true, &v), HV_OK);
	CHECK_EQ(v, 0x1122334455667788ULL);
	CHECK_EQ(hv_mmio(hv, 0, 0xe000000c, 2, true, &v), HV_OK);
	CHECK_EQ(v, 0x3344);
	CHECK_EQ(hv_mmio(hv, 0, 0xf0000000, 4, true, &v), HV_OK);
	CHECK_EQ(v, 0xffffffff);
	CHECK_EQ(hv_mmio(hv, 0, 0xfee00020, 4, true, &v), HV_OK);
	CHECK_EQ(v, 0xffffffff);
	/* PCI config through CF8/CFC */
	out(hv, 0, 0xcf8, 4, 0x80001800);
	CHECK_EQ(in(hv, 0, 0xcfc, 4), 0x56781234);
	CHECK_EQ(in(hv, 0, 0xcfe, 2), 0x5678);
	out(hv, 0, 0xcf8, 4, 0x80002000);
	CHECK_EQ(in(hv, 0, 0xcfc, 4), 0xffffffff);
	/* narrow write does not latch */
	out(hv, 0, 0xcf8, 2, 0x1800);
	CHECK_EQ(in(hv, 0, 0xcfc, 4), 0xffffffff);
	out(hv, 0, 0xcf8, 4, 0);
}

static void
test_rep(struct hv *hv)
{
	uint8_t *ram = hv_guest_ptr(hv, 0x10000, 0x2000);

	CHECK(ram != NULL);
	if (!ram)
		return;
	memcpy(ram, "ABCDEFGH", 8);
	/* rep outs: same port for every element, RAM side advances */
	CHECK_EQ(hv_rep_pio(hv, 0, 0x100, 4, false, 0x10000, 2, false), HV_OK);
	CHECK_EQ(in(hv, 0, 0x100, 4), 0x48474645);
	/* rep ins, descending: element i at gpa - i */
	memset(ram, 0, 0x2000);
	CHECK_EQ(hv_rep_pio(hv, 0, 0x100, 1, true, 0x10100, 4, true), HV_OK);
	CHECK_EQ(ram[0x100], 'E');
	CHECK_EQ(ram[0xfd], 'E');
	CHECK_EQ(ram[0xfc], 0);
	CHECK_EQ(ram[0x101], 0);
	/* crossing a page: split into two requests */
	CHECK_EQ(hv_rep_pio(hv, 0, 0x100, 4, true, 0x10ff8, 4, false), HV_OK);
	CHECK_EQ(ram[0xff8], 'E');
	CHECK_EQ(ram[0x1004], 'E');
	CHECK_EQ(ram[0x1007], 'H');
	/* a single element straddling pages goes alone */
	CHECK_EQ(hv_rep_pio(hv, 0, 0x100, 4, true, 0x10ffe, 2, false), HV_OK);
	CHECK_EQ(ram[0xffe], 'E');
	CHECK_EQ(ram[0x1005], 'H');
	/* unclaimed rep read fills all ones */
	CHECK_EQ(hv_rep_pio(hv, 0, 0x3f8, 2, true, 0x10200, 3, false), HV_OK);
	CHECK_EQ(ram[0x200], 0xff);
	CHECK_EQ(ram[0x205], 0xff);
	CHECK_EQ(ram[0x206], 0);
}

static void
test_buffered(struct hv *hv)
{
	uint32_t base = stat(hv, 0), sync = stat(hv, 7);

	CHECK_EQ(hv_buffered_write(hv, 0, 0xa0010, 4, 0xcafe), HV_OK);
	CHECK_EQ(hv_buffered_write(hv, 0, 0xa0018, 8, 0x0102030405060708ULL),
		 HV_OK);
	CHECK_EQ(stat(hv, 0), base + 2);
	CHECK_EQ(stat(hv, 1), 0xa0018);
	CHECK_EQ(stat(hv, 2), 0x05060708);
	CHECK_EQ(stat(hv, 3), 0x01020304);
	CHECK_EQ(stat(hv, 7), sync);
	/* ring full: 511 slots, then the write goes synchronously */
	cmd(hv, 7);
	for (unsigned i = 0; i < 511; i++)
		CHECK_EQ(hv_buffered_write(hv, 0, 0xa0000, 1, i), HV_OK);
	CHECK_EQ(hv_buffered_write(hv, 0, 0xa0004, 2, 0x7777), HV_OK);
	CHECK_EQ(stat(hv, 7), sync + 1);
	cmd(hv, 8);
	CHECK_EQ(stat(hv, 0), base + 2 + 511);
	/* wrap-around with 8-byte writes */
	for (unsigned i = 0; i < 700; i++)
		CHECK_EQ(hv_buffered_write(hv, i & 1, 0xa0100, 8,
					   0x100000000ULL * i + i),
			 HV_OK);
	/* the model may lag: full-ring fallbacks go synchronously */
	CHECK_EQ(stat(hv, 0) + stat(hv, 7), base + 2 + 511 + 700 + sync + 1);
	CHECK_EQ(stat(hv, 3), 699);
	/* outside the VGA window: synchronous */
	CHECK_EQ(hv_buffered_write(hv, 0, 0xc0000, 4, 1), HV_OK);
	CHECK_EQ(hv_timeoffset(hv, 5), HV_OK);
	CHECK_EQ(stat(hv, 4), 5);
	CHECK_EQ(hv_invalidate(hv, 1), HV_OK);
	CHECK_EQ(stat(hv, 5), 1);
}

static void
expect(struct hv *hv, struct hv_injection want)
{
	struct hv_injection last;
	bool have;

	CHECK_EQ(hv_expect_injection(hv, &want, 2000, &last, &have), 0);
}

static void
test_injection(struct hv *hv)
{
	struct hv_injection peek;

	cmd(hv, 1);
	cmd(hv, 1); /* no edge: not recorded */
	cmd(hv, 2);
	expect(hv, (struct hv_injection){
			   .kind = HV_IRQ_ISA, .a = 5, .level = true });
	expect(hv, (struct hv_injection){
			   .kind = HV_IRQ_ISA, .a = 5, .level = false });
	cmd(hv, 3);
	expect(hv, (struct hv_injection){ .kind = HV_IRQ_MSI,
					  .addr = 0xfee00000,
					  .data = 0x4041 });
	cmd(hv, 4);
	expect(hv, (struct hv_injection){ .kind = HV_IRQ_INTX,
					  .a = 3 << 3,
					  .b = 0,
					  .level = true });
	cmd(hv, 5);
	cmd(hv, 6);
	expect(hv,
	       (struct hv_injection){ .kind = HV_IRQ_LINK, .a = 0, .b = 10 });
	expect(hv, (struct hv_injection){ .kind = HV_IRQ_INTX,
					  .a = 3 << 3,
					  .b = 0,
					  .level = false });
	CHECK(!hv_peek_injection(hv, &peek));
	cmd(hv, 11);
	CHECK_EQ(stat(hv, 8), EINVAL);
	cmd(hv, 12);
	CHECK_EQ(stat(hv, 8), EOPNOTSUPP);
	CHECK_EQ(hv_fail_dmop(hv, "set_isa_irq_level", EIO), 0);
	CHECK(hv_fail_dmop(hv, "no_such_op", EIO) < 0);
	cmd(hv, 1);
	CHECK_EQ(stat(hv, 8), EIO);
	CHECK(!hv_peek_injection(hv, &peek));
	cmd(hv, 1);
	CHECK_EQ(stat(hv, 8), 0);
	cmd(hv, 2);
	/* overlapping claim in one server, unmap splitting a range */
	out(hv, 0, 0x104, 1, 0x45);
	cmd(hv, 13);
	CHECK_EQ(stat(hv, 8), EEXIST);
	cmd(hv, 14);
	CHECK_EQ(stat(hv, 8), 0);
	CHECK_EQ(in(hv, 0, 0x102, 1), 0xff);
	CHECK_EQ(in(hv, 0, 0x104, 1), 0x45);
}

static void
test_memory(struct hv *hv)
{
	uint32_t *page = hv_guest_ptr(hv, 0x5000, 4096);

	CHECK(page != NULL);
	CHECK(hv_guest_ptr(hv, 0xa0000, 1) == NULL);
	CHECK(hv_guest_ptr(hv, 64ULL << 20, 1) == NULL);
	if (!page)
		return;
	page[0] = 0x12345678;
	cmd(hv, 15); /* ref 1 missing */
	CHECK_EQ(stat(hv, 8), EINVAL);
	CHECK_EQ(hv_grant(hv, 1, 5, false), 0);
	CHECK_EQ(hv_grant(hv, 2, 5, true), 0);
	CHECK(hv_grant(hv, 3, 0xa0, false) < 0);
	cmd(hv, 15);
	CHECK_EQ(stat(hv, 8), 0);
	CHECK_EQ(stat(hv, 10), 0x12345678);
	CHECK_EQ(page[1], 0x600d);
	cmd(hv, 16); /* read-only grant mapped writable */
	CHECK_EQ(stat(hv, 8), EINVAL);
	CHECK_EQ(hv_ungrant(hv, 1), 0);
	CHECK(hv_ungrant(hv, 1) < 0);
	cmd(hv, 15);
	CHECK_EQ(stat(hv, 8), EINVAL);
	cmd(hv, 17); /* gfn 0xa0 is the VGA hole */
	CHECK_EQ(stat(hv, 10), (uint32_t)-EINVAL);
	CHECK_EQ(stat(hv, 8), EINVAL);
}

static void
test_two_servers(struct hv *hv)
{
	out(hv, 0, 0x100, 1, 0x11);
	cmd(hv, 9); /* server 1 (higher id) claims 0x100-0x101 */
	CHECK_EQ(in(hv, 0, 0x100, 1), 0x5a);
	CHECK_EQ(in(hv, 1, 0x101, 1), 0x5a);
	/* straddles server 1's range: only server 0 could match, and it
	 * unmapped 0x102 */
	CHECK_EQ(in(hv, 0, 0x101, 2), 0xffff);
	cmd(hv, 10);
	CHECK_EQ(in(hv, 0, 0x100, 1), 0x11);
	CHECK(stat(hv, 6) >= 1); /* spurious events from bind */
}

struct hammer {
	struct hv *hv;
	unsigned vcpu;
	int bad;
};

static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (unsigned i = 0; i < 2000; i++) {
		uint64_t v = 0;

		if (hv_pio(h->hv, h->vcpu, 0x110, 2, true, &v) != HV_OK ||
		    v != 0xab10)
			h->bad++;
	}
	return NULL;
}

static void
test_multi_vcpu(struct hv *hv)
{
	pthread_t t[2];
	struct hammer h[2] = { { hv, 0, 0 }, { hv, 1, 0 } };

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer_main, &h[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(h[0].bad + h[1].bad, 0);
}

static void
test_timeout_crash(struct hv *hv)
{
	uint64_t v = 0;

	CHECK_EQ(hv_pio(hv, 1, 0x300, 1, true, &v), HV_TIMEOUT);
	CHECK_EQ(hv_pio(hv, 1, 0x100, 1, true, &v), HV_TIMEOUT);
	CHECK_EQ(hv_pio(hv, 0, 0x301, 1, true, &v), HV_CRASHED);
	CHECK_EQ(hv_pio(hv, 0, 0x100, 1, true, &v), HV_CRASHED);
}

static void
test_destroy_domain(void)
{
	struct hv *hv = start(2, "1");
	uint64_t v = 0;
	int status = -1;

	CHECK_EQ(in(hv, 0, 0x110, 1), 0x10);
	hv_destroy_domain(hv);
	CHECK_EQ(hv_server_count(hv), 0);
	CHECK_EQ(hv_pio(hv, 0, 0x110, 1, true, &v), HV_DEAD);
	/* test-emu exits 0 only if the zombie rules held: get_info ENOENT
	 * and nr_vcpus still answering while it maps the domain, ESRCH once
	 * it has unmapped (3 and 4 are its failure codes), and @releaseDomain
	 * had fired by the time VIRQ_DOM_EXC arrived (5). */
	CHECK_EQ(hv_wait_child(hv, 5000, &status), 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	hv_destroy(hv);
}

int
main(int argc, char **argv)
{
	struct hv *hv;

	if (argc != 3) {
		fprintf(stderr, "usage: test-hv LIB_DIR TEST_EMU\n");
		return 2;
	}
	lib_dir = argv[1];
	emu = argv[2];

	hv = start(2, "2");
	test_basic(hv);
	test_rep(hv);
	test_buffered(hv);
	test_injection(hv);
	test_two_servers(hv);
	test_memory(hv);
	test_multi_vcpu(hv);
	stop_clean(hv);

	hv = start(2, "2");
	test_timeout_crash(hv);
	hv_destroy(hv);

	test_destroy_domain();

	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
