/*
 * ioreq/ring.c against malloc'd pages and a fake notify: the slot state
 * machine (spurious events, READY -> IORESP_READY with masked data, other
 * bits of the state byte kept, vp_eport untouched), and the buffered ring
 * (8-byte entries across the 510 -> 0 wrap, canonicalised pointers,
 * hostile pointers and torn entries bounded, drained before a sync
 * request).
 */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <xen/hvm/ioreq.h>

#include "fake.h"
#include "ioreq/ring.h"

static struct ioreq_dispatch d;
static struct ioreq_ring ring;
static unsigned notify_count;
static unsigned notify_vcpu;

static int
fake_notify(void *opaque, unsigned vcpu)
{
	notify_count++;
	notify_vcpu = vcpu;
	return 0;
}

static struct ioreq *
slot(unsigned vcpu)
{
	return &((struct shared_iopage *)ring.sync_page)->vcpu_ioreq[vcpu];
}

static struct buffered_iopage *
bufpage(void)
{
	return ring.buf_page;
}

static void
setup(void)
{
	fake_reset(&d);
	memset(ring.sync_page, 0, 4096);
	memset(ring.buf_page, 0, 4096);
	ring.vcpu_count = 2;
	ring.dispatch = &d;
	ring.notify = fake_notify;
	memset(&ring.stats, 0, sizeof(ring.stats));
	notify_count = 0;
	notify_vcpu = ~0u;
	for (unsigned v = 0; v < ring.vcpu_count; v++)
		slot(v)->vp_eport = 100 + v;
}

/* Publish a request the way Xen does: body, then state with release. */
static void
post(unsigned vcpu, struct ioreq req)
{
	uint8_t state;

	req.vp_eport = slot(vcpu)->vp_eport;
	state = req.state;
	req.state = STATE_IOREQ_NONE;
	*slot(vcpu) = req;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	slot(vcpu)->state = state;
}

static void
put_entry(unsigned index, uint8_t type, unsigned size_code, uint32_t addr,
	  uint32_t data)
{
	uint32_t word = type | (size_code << 10) | (addr << 12);
	uint32_t *e = (uint32_t *)&bufpage()->buf_ioreq[index];

	e[0] = word;
	e[1] = data;
}

static void
test_spurious(void)
{
	setup();
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 0);
	CHECK_EQ(notify_count, 0);
	CHECK_EQ(slot(0)->state, STATE_IOREQ_NONE);
	CHECK_EQ(ring.stats.spurious, 1);

	/* INPROCESS / IORESP_READY left alone, no notify */
	post(1, (struct ioreq){ .state = STATE_IORESP_READY, .size = 1 });
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 1), 0);
	CHECK_EQ(slot(1)->state, STATE_IORESP_READY);
	CHECK_EQ(fake_log_count, 0);

	/* vCPU beyond the count */
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 2), 0);
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 1000), 0);
	CHECK_EQ(notify_count, 0);
}

static void
test_sync_read(void)
{
	setup();
	fake_read_next = 0x1234;
	post(1, (struct ioreq){
			.addr = 0x3f8,
			.data = 0xffffffffffff,
			.count = 1,
			.size = 1,
			.dir = IOREQ_READ,
			.type = IOREQ_TYPE_PIO,
			.state = STATE_IOREQ_READY,
		});
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 1), 1);
	CHECK_EQ(slot(1)->state, STATE_IORESP_READY);
	CHECK_EQ(slot(1)->data, 0x34);
	CHECK_EQ(slot(1)->dir, IOREQ_READ); /* bit kept */
	CHECK_EQ(slot(1)->vp_eport, 101);   /* never written */
	CHECK_EQ(notify_count, 1);
	CHECK_EQ(notify_vcpu, 1);
	CHECK_EQ(fake_log_count, 1);
	CHECK_EQ(fake_log[0].addr, 0x3f8);

	/* a second event for the same answered slot is spurious */
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 1), 0);
	CHECK_EQ(notify_count, 1);
}

static void
test_sync_write(void)
{
	setup();
	post(0, (struct ioreq){
			.addr = 0x3f9,
			.data = 0xaabbccdd,
			.count = 1,
			.size = 1,
			.dir = IOREQ_WRITE,
			.type = IOREQ_TYPE_PIO,
			.df = 1,
			.state = STATE_IOREQ_READY,
		});
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 1);
	CHECK_EQ(fake_log_count, 1);
	CHECK(fake_log[0].write);
	CHECK_EQ(fake_log[0].value, 0xdd);
	CHECK_EQ(slot(0)->data, 0xaabbccdd); /* writes leave data alone */
	CHECK_EQ(slot(0)->state, STATE_IORESP_READY);
	CHECK_EQ(slot(0)->df, 1);
	CHECK_EQ(notify_vcpu, 0);
}

static void
test_sync_hostile(void)
{
	setup();
	/* odd size, huge count, unknown type: answered with all ones */
	post(0, (struct ioreq){
			.addr = UINT64_MAX,
			.count = UINT32_MAX,
			.size = 3,
			.dir = IOREQ_READ,
			.type = 0x55,
			.state = STATE_IOREQ_READY,
		});
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 1);
	CHECK_EQ(slot(0)->data, UINT64_MAX);
	CHECK_EQ(slot(0)->state, STATE_IORESP_READY);
	CHECK_EQ(fake_log_count, 0);

	/* state values above 3 are not READY: ignored */
	setup();
	slot(0)->state = 0xf;
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 0);
	CHECK_EQ(slot(0)->state, 0xf);
}

static void
test_buffered_wrap(void)
{
	struct buffered_iopage *pg;

	setup();
	pg = bufpage();
	/* an 8-byte TIMEOFFSET at 510 whose high half sits at index 0 */
	put_entry(510, IOREQ_TYPE_TIMEOFFSET, 3, 0, 0xfffff000);
	put_entry(0, IOREQ_TYPE_TIMEOFFSET, 3, 0, 0xffffffff);
	/* then a 4-byte MMIO write at index 1 */
	put_entry(1, IOREQ_TYPE_COPY, 2, 0xa0010, 0xcafef00d);
	pg->read_pointer = 510;
	pg->write_pointer = 513;

	CHECK_EQ(ioreq_ring_drain(&ring), 3);
	CHECK_EQ(pg->read_pointer, 513);
	CHECK_EQ(d.time_offset, -4096);
	CHECK_EQ(fake_log_count, 1);
	CHECK(fake_log[0].write);
	CHECK_EQ(fake_log[0].space, BUS_SPACE_MMIO);
	CHECK_EQ(fake_log[0].addr, 0xa0010);
	CHECK_EQ(fake_log[0].size, 4);
	CHECK_EQ(fake_log[0].value, 0xcafef00d);
	CHECK_EQ(ring.stats.buffered, 2);
	CHECK_EQ(notify_count, 0); /* buffered requests get no reply */

	/* empty now */
	CHECK_EQ(ioreq_ring_drain(&ring), 0);
}

static void
test_buffered_canonical(void)
{
	struct buffered_iopage *pg;

	setup();
	pg = bufpage();
	/* pointers past 511 (not yet reduced by Xen): index is ptr % 511 */
	put_entry(5, IOREQ_TYPE_COPY, 0, 0xb8000, 0x41);
	put_entry(6, IOREQ_TYPE_COPY, 1, 0xb8002, 0x1742);
	pg->read_pointer = 511 * 3 + 5;
	pg->write_pointer = 511 * 3 + 7;
	CHECK_EQ(ioreq_ring_drain(&ring), 2);
	CHECK_EQ(pg->read_pointer, 511 * 3 + 7);
	CHECK_EQ(fake_log_count, 2);
	CHECK_EQ(fake_log[0].addr, 0xb8000);
	CHECK_EQ(fake_log[0].value, 0x41);
	CHECK_EQ(fake_log[1].size, 2);
	CHECK_EQ(fake_log[1].value, 0x1742);

	/* uint32 wrap of both pointers */
	setup();
	pg = bufpage();
	put_entry((0xffffffffu) % 511, IOREQ_TYPE_COPY, 0, 0xa0000, 1);
	put_entry((0x100000000ull) % 511, IOREQ_TYPE_COPY, 0, 0xa0001, 2);
	pg->read_pointer = 0xffffffffu;
	pg->write_pointer = 1;
	CHECK_EQ(ioreq_ring_drain(&ring), 2);
	CHECK_EQ(pg->read_pointer, 1);
}

static void
test_buffered_hostile(void)
{
	struct buffered_iopage *pg;

	setup();
	pg = bufpage();
	/* more than a ring's worth published: refused, no work, no hang */
	pg->read_pointer = 0;
	pg->write_pointer = 1000;
	CHECK_EQ(ioreq_ring_drain(&ring), 0);
	CHECK_EQ(fake_log_count, 0);
	CHECK_EQ(ring.stats.bad_buffered, 1);
	pg->write_pointer = UINT32_MAX;
	CHECK_EQ(ioreq_ring_drain(&ring), 0);

	/* an 8-byte entry whose second half is not published yet */
	setup();
	pg = bufpage();
	put_entry(7, IOREQ_TYPE_COPY, 3, 0xa0000, 1);
	pg->read_pointer = 7;
	pg->write_pointer = 8;
	CHECK_EQ(ioreq_ring_drain(&ring), 0);
	CHECK_EQ(pg->read_pointer, 7);
	CHECK_EQ(fake_log_count, 0);
	/* once published it is consumed */
	put_entry(8, IOREQ_TYPE_COPY, 3, 0xa0000, 2);
	pg->write_pointer = 9;
	CHECK_EQ(ioreq_ring_drain(&ring), 2);
	CHECK_EQ(fake_log_count, 1);
	CHECK_EQ(fake_log[0].value, 0x200000001ull);

	/* a full ring of garbage: bounded to 511 slots per call */
	setup();
	pg = bufpage();
	for (unsigned i = 0; i < 511; i++)
		put_entry(i, (uint8_t)(i * 37), i & 3, i * 4099, i);
	pg->read_pointer = 0;
	pg->write_pointer = 511;
	CHECK(ioreq_ring_drain(&ring) <= 511);
	CHECK(pg->read_pointer <= 511);

	/* a buffered read is never performed */
	setup();
	pg = bufpage();
	bufpage()->buf_ioreq[0].type = IOREQ_TYPE_COPY;
	bufpage()->buf_ioreq[0].dir = 1;
	pg->write_pointer = 1;
	CHECK_EQ(ioreq_ring_drain(&ring), 1);
	CHECK_EQ(fake_log_count, 0);
}

static void
test_buffered_first(void)
{
	struct buffered_iopage *pg;

	setup();
	pg = bufpage();
	put_entry(0, IOREQ_TYPE_COPY, 0, 0xa0000, 0x11);
	pg->write_pointer = 1;
	post(0, (struct ioreq){
			.addr = 0xa0000,
			.count = 1,
			.size = 1,
			.dir = IOREQ_READ,
			.type = IOREQ_TYPE_COPY,
			.state = STATE_IOREQ_READY,
		});
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 1);
	CHECK_EQ(fake_log_count, 2);
	CHECK(fake_log[0].write); /* the buffered write came first */
	CHECK(!fake_log[1].write);
	CHECK_EQ(pg->read_pointer, 1);

	/* a spurious vCPU event still drains the ring */
	put_entry(1, IOREQ_TYPE_COPY, 0, 0xa0001, 0x22);
	pg->write_pointer = 2;
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 1), 0);
	CHECK_EQ(pg->read_pointer, 2);
}

static void
test_no_ring(void)
{
	void *saved = ring.buf_page;

	setup();
	ring.buf_page = NULL;
	CHECK_EQ(ioreq_ring_drain(&ring), 0);
	post(0, (struct ioreq){
			.addr = 0x80,
			.count = 1,
			.size = 1,
			.type = IOREQ_TYPE_PIO,
			.state = STATE_IOREQ_READY,
		});
	CHECK_EQ(ioreq_ring_vcpu_event(&ring, 0), 1);
	ring.buf_page = saved;
}

static void
test_eport(void)
{
	setup();
	CHECK_EQ(ioreq_ring_vcpu_eport(&ring, 1), 101);
	CHECK_EQ(ioreq_ring_vcpu_eport(&ring, 2), 0);
}

int
main(void)
{
	ring.sync_page = aligned_alloc(4096, 4096);
	ring.buf_page = aligned_alloc(4096, 4096);
	if (!ring.sync_page || !ring.buf_page)
		return 99;
	test_spurious();
	test_sync_read();
	test_sync_write();
	test_sync_hostile();
	test_buffered_wrap();
	test_buffered_canonical();
	test_buffered_hostile();
	test_buffered_first();
	test_no_ring();
	test_eport();
	free(ring.sync_page);
	free(ring.buf_page);
	if (test_failures)
		fprintf(stderr, "%u checks failed\n", test_failures);
	return test_failures ? 1 : 0;
}
