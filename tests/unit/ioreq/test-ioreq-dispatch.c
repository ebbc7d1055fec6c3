/*
 * ioreq/dispatch.c against a recording bus and a fake guest RAM: rep
 * string I/O in both directions of df, REP STOS, count clamping, size 8
 * PIO, PCI config (sizes, offsets past the 4 KiB space, rep on 0xcfc),
 * INVALIDATE, TIMEOFFSET, masking.
 */
#include <string.h>

#include "fake.h"

static struct ioreq_dispatch d;

static void
test_rep_insb(bool df)
{
	uint64_t gpa = FAKE_RAM_BASE + 0x100;
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.data = gpa,
		.count = 4,
		.size = 1,
		.read = true,
		.df = df,
		.data_is_ptr = true,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, gpa); /* data_is_ptr: untouched */
	CHECK_EQ(fake_log_count, 4);
	for (unsigned i = 0; i < 4; i++) {
		unsigned off = df ? 0x100 - i : 0x100 + i;

		CHECK(!fake_log[i].write);
		CHECK_EQ(fake_log[i].space, BUS_SPACE_PORT);
		CHECK_EQ(fake_log[i].addr, 0x3f8); /* port is fixed */
		CHECK_EQ(fake_ram[off], 0x41 + i);
	}
	/* nothing outside the elements was touched */
	CHECK_EQ(fake_ram[df ? 0x100 - 4 : 0x100 + 4], 0);
	CHECK_EQ(fake_ram[df ? 0x101 : 0xff], 0);
}

static void
test_rep_outsb(bool df)
{
	uint64_t gpa = FAKE_RAM_BASE + (df ? 0x203 : 0x200);
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x402,
		.data = gpa,
		.count = 4,
		.size = 1,
		.read = false,
		.df = df,
		.data_is_ptr = true,
	};

	fake_reset(&d);
	memcpy(fake_ram + 0x200, "abcd", 4);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 4);
	for (unsigned i = 0; i < 4; i++) {
		CHECK(fake_log[i].write);
		CHECK_EQ(fake_log[i].addr, 0x402);
		CHECK_EQ(fake_log[i].size, 1);
		CHECK_EQ(fake_log[i].value, df ? "dcba"[i] : "abcd"[i]);
	}
}

static void
test_rep_outsw_df(void)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x1f0,
		.data = FAKE_RAM_BASE + 0x302,
		.count = 2,
		.size = 2,
		.df = true,
		.data_is_ptr = true,
	};

	fake_reset(&d);
	memcpy(fake_ram + 0x300, "\x11\x22\x33\x44", 4);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 2);
	CHECK_EQ(fake_log[0].value, 0x4433);
	CHECK_EQ(fake_log[1].value, 0x2211);
}

static void
test_movs_mmio(bool df)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_COPY,
		.addr = 0xfe000010,
		.data = FAKE_RAM_BASE + 0x400,
		.count = 3,
		.size = 4,
		.read = true,
		.df = df,
		.data_is_ptr = true,
	};
	uint32_t v;

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 3);
	for (unsigned i = 0; i < 3; i++) {
		unsigned off = df ? 0x400 - 4 * i : 0x400 + 4 * i;

		CHECK_EQ(fake_log[i].space, BUS_SPACE_MMIO);
		CHECK_EQ(fake_log[i].addr,
			 df ? 0xfe000010 - 4 * i : 0xfe000010 + 4 * i);
		memcpy(&v, fake_ram + off, 4);
		CHECK_EQ(v, 0x41 + i);
	}
}

static void
test_rep_stos(bool df)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_COPY,
		.addr = 0xfe001000,
		.data = 0xabcd1234,
		.count = 3,
		.size = 4,
		.df = df,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(fake_log[i].write);
		CHECK_EQ(fake_log[i].addr,
			 df ? 0xfe001000 - 4 * i : 0xfe001000 + 4 * i);
		CHECK_EQ(fake_log[i].value, 0xabcd1234);
	}
}

static void
test_count_clamp(void)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x402,
		.data = FAKE_RAM_BASE,
		.count = 100000,
		.size = 1,
		.data_is_ptr = true,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 4096);
	CHECK_EQ(d.stats.clamped, 1);

	req.size = 4;
	req.count = UINT32_MAX;
	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 1024);

	/* REP STOS is clamped too */
	req = (struct ioreq_request){
		.type = IOREQ_REQ_COPY,
		.addr = 0,
		.data = 1,
		.count = UINT32_MAX,
		.size = 8,
	};
	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 512);
}

static void
test_guest_fault(void)
{
	/* starts 2 bytes before the end of RAM: 2 elements, then a fault */
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x402,
		.data = FAKE_RAM_BASE + FAKE_RAM_SIZE - 2,
		.count = 10,
		.size = 1,
		.data_is_ptr = true,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 2);
	CHECK_EQ(d.stats.guest_faults, 1);

	/* rep ins into unmapped RAM, and gpa wrapping through zero (df) */
	req = (struct ioreq_request){
		.type = IOREQ_REQ_PIO,
		.addr = 0x60,
		.data = 1,
		.count = 8,
		.size = 2,
		.read = true,
		.df = true,
		.data_is_ptr = true,
	};
	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(d.stats.guest_faults, 1);
	CHECK(fake_log_count <= 1);
}

static void
test_bad_requests(void)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.count = 1,
		.size = 8,
		.read = true,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, UINT64_MAX);
	CHECK_EQ(fake_log_count, 0);
	CHECK_EQ(d.stats.bad_requests, 1);

	/* size 8 PIO write: dropped */
	req.read = false;
	req.data = 5;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 0);

	/* odd size */
	req = (struct ioreq_request){
		.type = IOREQ_REQ_COPY,
		.count = 1,
		.size = 3,
		.read = true,
	};
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, UINT64_MAX);
	CHECK_EQ(fake_log_count, 0);

	/* unknown type */
	req = (struct ioreq_request){
		.type = 5,
		.count = 1,
		.size = 2,
		.read = true,
	};
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, 0xffff);
	CHECK_EQ(fake_log_count, 0);
}

static void
test_masking(void)
{
	struct ioreq_request req = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.count = 1,
		.size = 2,
		.data = 0x12345678,
	};

	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 1);
	CHECK_EQ(fake_log[0].value, 0x5678);

	/* reads are masked to size too */
	fake_read_next = 0x1122334455667788ull;
	req = (struct ioreq_request){
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.count = 1,
		.size = 1,
		.read = true,
		.data = 0xdeadbeef,
	};
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, 0x88);

	/* count 0 with a pointer: nothing */
	req = (struct ioreq_request){
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.count = 0,
		.size = 1,
		.data_is_ptr = true,
		.data = FAKE_RAM_BASE,
	};
	fake_reset(&d);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 0);
}

/* 00:05.0 as Xen packs it in addr's upper half. */
#define SBDF_05 0x28ull

static struct ioreq_request
cfg_req(uint32_t reg, unsigned size, bool read, uint64_t data)
{
	return (struct ioreq_request){
		.type = IOREQ_REQ_PCI_CONFIG,
		.addr = SBDF_05 << 32 | reg,
		.count = 1,
		.size = size,
		.read = read,
		.data = data,
	};
}

static void
test_pci_config_sizes(void)
{
	static const unsigned sizes[] = { 1, 2, 4 };
	struct ioreq_request req;

	for (unsigned k = 0; k < 3; k++) {
		unsigned size = sizes[k];

		fake_reset(&d);
		req = cfg_req(0x3c, size, true, 0);
		ioreq_dispatch(&d, &req);
		CHECK_EQ(fake_log_count, 1);
		CHECK(fake_log[0].config && !fake_log[0].write);
		CHECK_EQ(fake_log[0].sbdf, SBDF_05);
		CHECK_EQ(fake_log[0].addr, 0x3c);
		CHECK_EQ(fake_log[0].size, size);
		/* the fake returns 0xabcd0041: masked to the size */
		CHECK_EQ(req.data, 0xabcd0041u & ioreq_size_mask(size));

		req = cfg_req(0x3d, size, false, 0x1122334455667788ull);
		ioreq_dispatch(&d, &req);
		CHECK_EQ(fake_log_count, 2);
		CHECK(fake_log[1].config && fake_log[1].write);
		CHECK_EQ(fake_log[1].addr, 0x3d);
		CHECK_EQ(fake_log[1].value,
			 0x55667788u & ioreq_size_mask(size));
	}
	/* Last byte / word / dword of the 4 KiB space are registers. */
	fake_reset(&d);
	req = cfg_req(0xfff, 1, true, 0);
	ioreq_dispatch(&d, &req);
	req = cfg_req(0xffe, 2, true, 0);
	ioreq_dispatch(&d, &req);
	req = cfg_req(0xffc, 4, false, 7);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 3);
	CHECK_EQ(d.stats.bad_requests, 0);
	/* The segment half of the SBDF reaches the bus unchanged. */
	req = cfg_req(0, 2, true, 0);
	req.addr |= 0x10000ull << 32;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log[3].sbdf, 0x10028);
}

static void
test_pci_config_bad(void)
{
	static const struct {
		uint32_t reg;
		unsigned size;
	} bad[] = {
		{ 0xfff, 2 },	   { 0xffd, 4 },      { 0xffe, 4 },
		{ 0x1000, 1 },	   { 0x1000, 4 },     { 0xfffffffc, 4 },
		{ 0xffffffff, 1 }, { 0x80000000, 2 },
	};
	struct ioreq_request req;

	fake_reset(&d);
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		req = cfg_req(bad[k].reg, bad[k].size, true, 0);
		ioreq_dispatch(&d, &req);
		CHECK_EQ(req.data, ioreq_size_mask(bad[k].size));
		req = cfg_req(bad[k].reg, bad[k].size, false, 0);
		ioreq_dispatch(&d, &req);
	}
	CHECK_EQ(fake_log_count, 0);
	/* outside the space is an absent register, not a bad request */
	CHECK_EQ(d.stats.bad_requests, 0);

	/* size 8 and odd sizes: all-ones, counted */
	req = cfg_req(0x10, 8, true, 0);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, UINT64_MAX);
	req = cfg_req(0x10, 3, true, 0);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, UINT64_MAX);
	req = cfg_req(0x10, 8, false, 5);
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 0);
	CHECK_EQ(d.stats.bad_requests, 3);

	/* count > 1 without a pointer (Xen never sends it): one access */
	req = cfg_req(0x10, 4, true, 0);
	req.count = 50;
	ioreq_dispatch(&d, &req);
	req = cfg_req(0x10, 4, false, 9);
	req.count = 50;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 2);
}

/* REP INSL / OUTSW on 0xcfc: Xen forwards them as PCI_CONFIG + pointer. */
static void
test_pci_config_rep(bool df)
{
	uint64_t gpa = FAKE_RAM_BASE + 0x400;
	struct ioreq_request req = cfg_req(0x40, 4, true, gpa);

	fake_reset(&d);
	req.data_is_ptr = true;
	req.count = 3;
	req.df = df;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(req.data, gpa);
	CHECK_EQ(fake_log_count, 3);
	for (unsigned i = 0; i < 3; i++) {
		uint32_t v;
		unsigned off = df ? 0x400 - 4 * i : 0x400 + 4 * i;

		CHECK(fake_log[i].config && !fake_log[i].write);
		CHECK_EQ(fake_log[i].addr, 0x40); /* same register */
		memcpy(&v, fake_ram + off, 4);
		CHECK_EQ(v, 0xabcd0041u + i);
	}

	fake_reset(&d);
	memcpy(fake_ram + 0x500, "\x11\x22\x33\x44", 4);
	req = cfg_req(0x06, 2, false, FAKE_RAM_BASE + (df ? 0x502 : 0x500));
	req.data_is_ptr = true;
	req.count = 2;
	req.df = df;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 2);
	CHECK(fake_log[0].config && fake_log[0].write);
	CHECK_EQ(fake_log[0].addr, 0x06);
	CHECK_EQ(fake_log[1].addr, 0x06);
	CHECK_EQ(fake_log[0].value, df ? 0x4433 : 0x2211);
	CHECK_EQ(fake_log[1].value, df ? 0x2211 : 0x4433);

	/* A rep at a register outside the space: all-ones into RAM. */
	fake_reset(&d);
	req = cfg_req(0xffe, 4, true, gpa);
	req.data_is_ptr = true;
	req.count = 2;
	req.df = df;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(fake_ram[(df ? 0x3fc : 0x400) + i], 0xff);

	/* A huge count is clamped to one page of elements. */
	fake_reset(&d);
	req = cfg_req(0x0, 4, true, FAKE_RAM_BASE);
	req.data_is_ptr = true;
	req.count = 0xffffffffu;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, IOREQ_REP_MAX_BYTES / 4);
	CHECK_EQ(d.stats.clamped, 1);

	/* Guest RAM missing: stops at the fault. */
	fake_reset(&d);
	req = cfg_req(0x0, 4, false, FAKE_RAM_BASE + FAKE_RAM_SIZE - 4);
	req.data_is_ptr = true;
	req.count = 4;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_log_count, 1);
	CHECK_EQ(d.stats.guest_faults, 1);
}

static void
test_pci_timeoffset_invalidate(void)
{
	struct ioreq_request req;

	fake_reset(&d);
	req = (struct ioreq_request){
		.type = IOREQ_REQ_TIMEOFFSET,
		.size = 8,
		.count = 1,
		.data = (uint64_t)-3600,
	};
	ioreq_dispatch(&d, &req);
	req.data = 60;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(d.time_offset, -3540);

	req = (struct ioreq_request){
		.type = IOREQ_REQ_INVALIDATE,
		.size = 4,
		.count = 0,
		.data = UINT64_MAX,
	};
	ioreq_dispatch(&d, &req);
	CHECK_EQ(fake_invalidates, 1);
	CHECK_EQ(fake_log_count, 0);
}

/* Request bracket: bus accesses seen at begin and end, and calls. */
static unsigned begins, ends;
static unsigned log_at_begin, log_at_end;

static void
on_begin(void *opaque)
{
	CHECK(opaque == &d);
	CHECK_EQ(begins, ends); /* never nested */
	begins++;
	log_at_begin = fake_log_count;
}

static void
on_end(void *opaque)
{
	CHECK(opaque == &d);
	ends++;
	log_at_end = fake_log_count;
}

static void
arm_bracket(void)
{
	fake_reset(&d);
	d.request_opaque = &d;
	d.request_begin = on_begin;
	d.request_end = on_end;
	begins = ends = 0;
	log_at_begin = log_at_end = 0;
}

static void
test_request_bracket(void)
{
	struct ioreq_request req;

	/* A rep of 8 config writes: one bracket around all 8 accesses. */
	arm_bracket();
	req = cfg_req(0x04, 2, false, FAKE_RAM_BASE);
	req.data_is_ptr = true;
	req.count = 8;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(begins, 1);
	CHECK_EQ(ends, 1);
	CHECK_EQ(log_at_begin, 0);
	CHECK_EQ(log_at_end, 8);

	/* One per request, for PIO and MMIO too. */
	req = (struct ioreq_request){
		.type = IOREQ_REQ_PIO,
		.addr = 0x3f8,
		.size = 1,
		.count = 1,
	};
	ioreq_dispatch(&d, &req);
	req.type = IOREQ_REQ_COPY;
	req.read = true;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(begins, 3);
	CHECK_EQ(ends, 3);

	/* Rejected requests and broadcasts touch no device: no bracket. */
	req.size = 3;
	ioreq_dispatch(&d, &req);
	req = (struct ioreq_request){
		.type = IOREQ_REQ_INVALIDATE,
		.size = 4,
	};
	ioreq_dispatch(&d, &req);
	CHECK_EQ(begins, 3);
	CHECK_EQ(ends, 3);

	/* A rep ending early at a guest fault still closes its bracket. */
	req = cfg_req(0x0, 4, false, FAKE_RAM_BASE + FAKE_RAM_SIZE - 4);
	req.data_is_ptr = true;
	req.count = 4;
	ioreq_dispatch(&d, &req);
	CHECK_EQ(begins, 4);
	CHECK_EQ(ends, 4);
	fake_reset(&d);
}

int
main(void)
{
	test_rep_insb(false);
	test_rep_insb(true);
	test_rep_outsb(false);
	test_rep_outsb(true);
	test_rep_outsw_df();
	test_movs_mmio(false);
	test_movs_mmio(true);
	test_rep_stos(false);
	test_rep_stos(true);
	test_count_clamp();
	test_guest_fault();
	test_bad_requests();
	test_masking();
	test_pci_config_sizes();
	test_pci_config_bad();
	test_pci_config_rep(false);
	test_pci_config_rep(true);
	test_pci_timeoffset_invalidate();
	test_request_bracket();
	if (test_failures)
		fprintf(stderr, "%u checks failed\n", test_failures);
	return test_failures ? 1 : 0;
}
