/*
 * ioreq/guest.c, the guest-memory mapping cache, against a fake
 * libxenforeignmemory (fake-fmem.c) that counts maps and unmaps: no remap
 * once two addresses 16 MiB apart are warm (they shared a slot in the old
 * direct-mapped cache), LRU eviction in a full set, the cap on mapped
 * chunks, INVALIDATE dropping every mapping, accesses spanning chunks,
 * refused maps and holes (-EFAULT, nothing leaked), unmaps in batches,
 * hostile lengths, and the dispatcher's answer when guest RAM cannot be
 * mapped during a rep.
 */
#include <errno.h>
#include <string.h>

#include "fake-fmem.h"
#include "fake.h"
#include "ioreq/guest.h"

#define CHUNK (1u << IOREQ_GUEST_CHUNK_SHIFT)
/* Chunk indices a multiple of IOREQ_GUEST_SETS apart share a set. */
#define SET_STRIDE ((uint64_t)CHUNK * IOREQ_GUEST_SETS)

static struct ioreq_guest g;

static void
setup(void)
{
	fake_fmem_reset();
	ioreq_guest_init(&g, fake_fmem, 7);
}

/* Every mapping is returned, exactly once and with its size. */
static void
teardown(void)
{
	struct ioreq_guest_stats st;

	ioreq_guest_fini(&g);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(fake_fmem_live, 0);
	CHECK_EQ(fake_fmem_bad_unmaps, 0);
	CHECK_EQ(st.maps, fake_fmem_maps);
	CHECK_EQ(st.unmaps, fake_fmem_unmaps);
}

static uint8_t
read_byte(uint64_t gpa)
{
	uint8_t b = 0;

	CHECK_EQ(ioreq_guest_read(&g, gpa, &b, 1), 0);
	return b;
}

static void
test_alternating(void)
{
	struct ioreq_guest_stats st;

	setup();
	fake_fmem_ram[0x10000] = 0x11;
	fake_fmem_ram[0x1010000] = 0x22;
	for (unsigned i = 0; i < 1000; i++) {
		CHECK_EQ(read_byte(0x10000), 0x11);
		CHECK_EQ(read_byte(0x1010000), 0x22);
		if (i == 0)
			CHECK_EQ(fake_fmem_maps, 2); /* warm-up */
	}
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(fake_fmem_maps, 2);
	CHECK_EQ(fake_fmem_unmaps, 0);
	CHECK_EQ(st.misses, 2);
	CHECK_EQ(st.hits, 1998);
	CHECK_EQ(st.maps, 2);
	CHECK_EQ(st.unmaps, 0);
	teardown();
}

/* A sequential walk maps each chunk once: 16 pages, not 1 MiB. */
static void
test_sequential(void)
{
	setup();
	for (uint64_t gpa = 0x100000; gpa < 0x100000 + 4 * CHUNK; gpa += 4096)
		(void)read_byte(gpa);
	CHECK_EQ(fake_fmem_maps, 4);
	teardown();
}

static void
test_lru_full_set(void)
{
	uint64_t base = 3 * CHUNK; /* set 3 */

	setup();
	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
		(void)read_byte(base + w * SET_STRIDE);
	CHECK_EQ(fake_fmem_maps, IOREQ_GUEST_WAYS);
	/* way 0 becomes the most recent; way 1 is now the LRU one */
	(void)read_byte(base);
	(void)read_byte(base + IOREQ_GUEST_WAYS * SET_STRIDE);
	CHECK_EQ(fake_fmem_maps, IOREQ_GUEST_WAYS + 1);
	ioreq_guest_flush(&g); /* evictions are unmapped in batches */
	CHECK_EQ(fake_fmem_unmaps, 1);
	CHECK_EQ(fake_fmem_live, IOREQ_GUEST_WAYS);
	/* the survivors are still mapped ... */
	(void)read_byte(base);
	for (unsigned w = 2; w <= IOREQ_GUEST_WAYS; w++)
		(void)read_byte(base + w * SET_STRIDE);
	CHECK_EQ(fake_fmem_maps, IOREQ_GUEST_WAYS + 1);
	/* ... and the evicted one comes back with a map */
	(void)read_byte(base + SET_STRIDE);
	CHECK_EQ(fake_fmem_maps, IOREQ_GUEST_WAYS + 2);
	/* other sets were not disturbed */
	(void)read_byte(4 * CHUNK);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_unmaps, 2);
	teardown();
}

static void
test_cap(void)
{
	setup();
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, 0), -EINVAL);
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, IOREQ_GUEST_MAX_CHUNKS + 1),
		 -EINVAL);
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, 2), 0);
	/* three sets, cap two: the least recently used chunk of all goes */
	(void)read_byte(0 * CHUNK);
	(void)read_byte(1 * CHUNK);
	(void)read_byte(0 * CHUNK);
	(void)read_byte(2 * CHUNK);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_live, 2);
	CHECK_EQ(fake_fmem_unmaps, 1);
	(void)read_byte(0 * CHUNK);
	(void)read_byte(2 * CHUNK);
	CHECK_EQ(fake_fmem_maps, 3);
	/* lowering the cap unmaps at once */
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, 1), 0);
	CHECK_EQ(fake_fmem_live, 1);
	(void)read_byte(2 * CHUNK);
	CHECK_EQ(fake_fmem_maps, 3);
	/* the full cache holds IOREQ_GUEST_MAX_CHUNKS, and no more */
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, IOREQ_GUEST_MAX_CHUNKS), 0);
	for (unsigned i = 0; i < 2 * IOREQ_GUEST_MAX_CHUNKS; i++)
		(void)read_byte((uint64_t)i * CHUNK);
	/* at most one batch of evictions waits beyond the cap */
	CHECK(fake_fmem_live <=
	      IOREQ_GUEST_MAX_CHUNKS + IOREQ_GUEST_UNMAP_BATCH);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_live, IOREQ_GUEST_MAX_CHUNKS);
	teardown();
}

static void
test_invalidate(void)
{
	struct ioreq_guest_stats st;
	uint8_t v = 0x5a;

	setup();
	for (unsigned i = 0; i < 10; i++)
		(void)read_byte((uint64_t)i * 0x110000);
	CHECK_EQ(ioreq_guest_write(&g, 0x12345, &v, 1), 0);
	CHECK_EQ(fake_fmem_live, 11);
	ioreq_guest_invalidate(&g);
	CHECK_EQ(fake_fmem_live, 0);
	CHECK_EQ(fake_fmem_unmaps, 11);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.unmaps, 11);
	/* still usable: the next access maps again and sees guest RAM */
	CHECK_EQ(read_byte(0x12345), 0x5a);
	CHECK_EQ(fake_fmem_maps, 12);
	teardown();
}

static void
test_spanning(void)
{
	static uint8_t buf[2 * CHUNK + 100], back[sizeof(buf)];
	/* from 50 bytes before chunk 5 to 50 bytes into chunk 7: 4 chunks */
	uint64_t gpa = 5 * CHUNK - 50;
	uint64_t word = 0x0102030405060708u, got = 0;

	setup();
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	CHECK_EQ(ioreq_guest_write(&g, gpa, buf, sizeof(buf)), 0);
	CHECK(memcmp(fake_fmem_ram + gpa, buf, sizeof(buf)) == 0);
	CHECK_EQ(fake_fmem_maps, 4);
	CHECK_EQ(ioreq_guest_read(&g, gpa, back, sizeof(back)), 0);
	CHECK(memcmp(back, buf, sizeof(buf)) == 0);
	/* an 8-byte element straddling two chunks */
	CHECK_EQ(ioreq_guest_write(&g, 9 * CHUNK - 3, &word, 8), 0);
	CHECK_EQ(ioreq_guest_read(&g, 9 * CHUNK - 3, &got, 8), 0);
	CHECK_EQ(got, word);
	CHECK(memcmp(fake_fmem_ram + 9 * CHUNK - 3, &word, 8) == 0);
	CHECK_EQ(fake_fmem_maps, 6);
	teardown();
}

static void
test_refused(void)
{
	struct ioreq_guest_stats st;
	uint8_t b = 0x77;
	uint32_t w = 0xaabbccdd;

	setup();
	fake_fmem_refuse = true;
	CHECK_EQ(ioreq_guest_read(&g, 0x4000, &b, 1), -EFAULT);
	CHECK_EQ(ioreq_guest_write(&g, 0x4000, &b, 1), -EFAULT);
	CHECK_EQ(fake_fmem_live, 0);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.map_failures, 2);
	CHECK_EQ(st.maps, 0);
	fake_fmem_refuse = false;
	/* a hole: page 0x21 of chunk 2 is not RAM, its neighbours are */
	fake_fmem_hole_first = 0x21;
	fake_fmem_hole_end = 0x22;
	CHECK_EQ(ioreq_guest_read(&g, 0x21000, &b, 1), -EFAULT);
	CHECK_EQ(read_byte(0x20fff), 0);
	CHECK_EQ(read_byte(0x22000), 0);
	CHECK_EQ(fake_fmem_maps, 1);
	/* a write running into the hole stops there; the part before stays */
	CHECK_EQ(ioreq_guest_write(&g, 0x20ffe, &w, 4), -EFAULT);
	CHECK_EQ(fake_fmem_ram[0x20ffe], 0xdd);
	CHECK_EQ(fake_fmem_ram[0x20fff], 0xcc);
	/* past the end of RAM */
	CHECK_EQ(ioreq_guest_read(&g, FAKE_FMEM_RAM_SIZE + 8, &b, 1), -EFAULT);
	teardown();
}

/*
 * Evictions are queued, not unmapped one by one: nothing goes until a
 * flush or until the queue is full, then a whole batch at once.
 */
static void
test_batched_unmaps(void)
{
	struct ioreq_guest_stats st;

	setup();
	CHECK_EQ(ioreq_guest_set_max_chunks(&g, 1), 0);
	for (unsigned i = 0; i < 10; i++)
		(void)read_byte((uint64_t)i * CHUNK);
	CHECK_EQ(fake_fmem_maps, 10);
	CHECK_EQ(fake_fmem_unmaps, 0);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_unmaps, 9);
	ioreq_guest_flush(&g); /* nothing queued: not a batch */
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.unmap_batches, 1);
	/* 40 more evictions: two full batches go, 8 wait */
	for (unsigned i = 10; i < 50; i++)
		(void)read_byte((uint64_t)i * CHUNK);
	CHECK_EQ(fake_fmem_unmaps, 9 + 2 * IOREQ_GUEST_UNMAP_BATCH);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.unmap_batches, 3);
	CHECK_EQ(st.unmaps, fake_fmem_unmaps);
	CHECK_EQ(fake_fmem_live, 1 + 40 - 2 * IOREQ_GUEST_UNMAP_BATCH);
	/* INVALIDATE unmaps at once, queued evictions included */
	ioreq_guest_invalidate(&g);
	CHECK_EQ(fake_fmem_live, 0);
	teardown();
}

/* Lengths a guest picks: 0 touches nothing, a wrap past 2^64 faults. */
static void
test_hostile_lengths(void)
{
	uint8_t buf[4] = { 0 };

	setup();
	CHECK_EQ(ioreq_guest_read(&g, UINT64_MAX, buf, 0), 0);
	CHECK_EQ(ioreq_guest_write(&g, 0x1000, buf, 0), 0);
	CHECK_EQ(fake_fmem_maps, 0);
	CHECK_EQ(ioreq_guest_read(&g, UINT64_MAX - 1, buf, 4), -EFAULT);
	CHECK_EQ(ioreq_guest_write(&g, UINT64_MAX, buf, 2), -EFAULT);
	CHECK_EQ(fake_fmem_maps, 0);
	/* the last page of the address space is simply not RAM */
	CHECK_EQ(ioreq_guest_read(&g, UINT64_MAX - 3, buf, 4), -EFAULT);
	teardown();
}

/* No fmem (never opened): every access faults, nothing is called. */
static void
test_no_handle(void)
{
	uint8_t b;

	fake_fmem_reset();
	ioreq_guest_init(&g, NULL, 7);
	CHECK_EQ(ioreq_guest_read(&g, 0x1000, &b, 1), -EFAULT);
	CHECK_EQ(fake_fmem_maps, 0);
	ioreq_guest_fini(&g);
}

static int
read_cb(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	return ioreq_guest_read(opaque, gpa, buf, len);
}

static int
write_cb(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return ioreq_guest_write(opaque, gpa, buf, len);
}

/*
 * Through the dispatcher: a rep OUTS from RAM Xen will not map writes
 * nothing to the device; a rep INS into it reads the device once and drops
 * the value (the element cannot be stored); both count a guest fault.
 */
static void
test_dispatch_refused(void)
{
	struct ioreq_dispatch d;
	struct ioreq_request out = {
		.type = IOREQ_REQ_PIO,
		.addr = 0x402,
		.data = 0x30000,
		.count = 4,
		.size = 1,
		.data_is_ptr = true,
	};
	struct ioreq_request in = out;

	setup();
	fake_reset(&d);
	d.guest_opaque = &g;
	d.guest_read = read_cb;
	d.guest_write = write_cb;
	fake_fmem_refuse = true;
	ioreq_dispatch(&d, &out);
	CHECK_EQ(fake_log_count, 0);
	in.read = true;
	ioreq_dispatch(&d, &in);
	CHECK_EQ(fake_log_count, 1);
	CHECK_EQ(d.stats.guest_faults, 2);
	CHECK_EQ(fake_fmem_live, 0);
	/* once Xen maps it again, the same request works */
	fake_fmem_refuse = false;
	memcpy(fake_fmem_ram + 0x30000, "abcd", 4);
	ioreq_dispatch(&d, &out);
	CHECK_EQ(fake_log_count, 5);
	CHECK_EQ(fake_log[4].value, 'd');
	teardown();
}

int
main(void)
{
	test_alternating();
	test_sequential();
	test_lru_full_set();
	test_cap();
	test_invalidate();
	test_spanning();
	test_refused();
	test_batched_unmaps();
	test_hostile_lengths();
	test_no_handle();
	test_dispatch_refused();
	if (test_failures)
		fprintf(stderr, "%u checks failed\n", test_failures);
	return test_failures ? 1 : 0;
}
