/*
 * ioreq/guest-map.c and the pins of ioreq/guest.c: guest memory mapped in
 * place into a scatter-gather list, against fake-fmem.c and fake-gnttab.c.
 * Segments across pages and chunks, the segment limit, hostile lengths
 * (0, wrap past 2^64), holes, the pin cap, a mapping held across
 * INVALIDATE and across evictions (still mapped, reported revoked), and
 * grant mode: DMA-address decoding, refs the guest did not grant,
 * read-only grants.  Also the ordered accessors of devices/guest-mem.h.
 */
#include <errno.h>
#include <string.h>

#include "devices/guest-mem.h"
#include "fake-fmem.h"
#include "fake-gnttab.h"
#include "fake.h"
#include "ioreq/guest.h"

#define CHUNK	   (1u << IOREQ_GUEST_CHUNK_SHIFT)
#define PAGE	   4096u
#define SET_STRIDE ((uint64_t)CHUNK * IOREQ_GUEST_SETS)
#define GNT(ref, off) \
	(IOREQ_GUEST_GRANT_BIT | (uint64_t)(ref) << 12 | (uint64_t)(off))

static struct ioreq_guest g;

static void
setup(void)
{
	fake_fmem_reset();
	fake_gnttab_reset();
	ioreq_guest_init(&g, fake_fmem, 7);
}

static void
setup_grant(void)
{
	setup();
	CHECK_EQ(ioreq_guest_set_mode(&g, IOREQ_GUEST_GRANT, fake_gnttab), 0);
}

/* Every mapping returned once, with its size; nothing still pinned. */
static void
teardown(void)
{
	struct ioreq_guest_stats st;

	CHECK_EQ(g.pins, 0);
	ioreq_guest_fini(&g);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(fake_fmem_live, 0);
	CHECK_EQ(fake_gnttab_live, 0);
	CHECK_EQ(fake_fmem_bad_unmaps, 0);
	CHECK_EQ(fake_gnttab_bad_unmaps, 0);
	CHECK_EQ(st.maps, fake_fmem_maps + fake_gnttab_maps);
	CHECK_EQ(st.unmaps, fake_fmem_unmaps + fake_gnttab_unmaps);
}

static void
test_map_spanning(void)
{
	static const size_t want[] = { 50, CHUNK, CHUNK, 50 };
	uint64_t gpa = 5 * CHUNK - 50; /* chunks 4 to 7 */
	struct ioreq_guest_stats st;
	struct guest_sg sg;
	uint64_t at = gpa;

	setup();
	for (size_t i = 0; i < 2 * CHUNK + 100; i++)
		fake_fmem_ram[gpa + i] = (uint8_t)(i * 3);
	CHECK_EQ(ioreq_guest_map(&g, gpa, 2 * CHUNK + 100, true, &sg), 0);
	CHECK_EQ(sg.n, 4);
	for (unsigned i = 0; i < sg.n && i < 4; i++) {
		CHECK_EQ(sg.seg[i].len, want[i]);
		CHECK(sg.seg[i].hva == fake_fmem_ram + at);
		at += want[i];
	}
	/* written in place: guest RAM changes, no copy involved */
	((uint8_t *)sg.seg[2].hva)[7] = 0xee;
	CHECK_EQ(fake_fmem_ram[gpa + 50 + CHUNK + 7], 0xee);
	CHECK_EQ(g.pins, 4);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(sg.n, 0);
	CHECK_EQ(g.pins, 0);
	ioreq_guest_unmap(&g, &sg); /* idempotent */
	/* two pages of one chunk: one segment, and a hit */
	CHECK_EQ(ioreq_guest_map(&g, 5 * CHUNK + PAGE - 8, 16, false, &sg), 0);
	CHECK_EQ(sg.n, 1);
	CHECK_EQ(sg.seg[0].len, 16);
	ioreq_guest_unmap(&g, &sg);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.pins, 5);
	CHECK_EQ(fake_fmem_maps, 4);
	teardown();
}

static void
test_map_limits(void)
{
	struct guest_sg sg;

	setup();
	/* length 0: an empty list, nothing mapped, whatever the address */
	CHECK_EQ(ioreq_guest_map(&g, UINT64_MAX, 0, true, &sg), 0);
	CHECK_EQ(sg.n, 0);
	CHECK_EQ(fake_fmem_maps, 0);
	/* exactly GUEST_SG_MAX chunks fit ... */
	CHECK_EQ(ioreq_guest_map(&g, 0, GUEST_SG_MAX * CHUNK, false, &sg), 0);
	CHECK_EQ(sg.n, GUEST_SG_MAX);
	ioreq_guest_unmap(&g, &sg);
	/* ... one byte more, or the same length unaligned, does not */
	CHECK_EQ(ioreq_guest_map(&g, 0, GUEST_SG_MAX * CHUNK + 1, false, &sg),
		 -E2BIG);
	CHECK_EQ(ioreq_guest_map(&g, 1, GUEST_SG_MAX * CHUNK, false, &sg),
		 -E2BIG);
	CHECK_EQ(ioreq_guest_map(&g, 0, SIZE_MAX, false, &sg), -E2BIG);
	CHECK_EQ(sg.n, 0);
	CHECK_EQ(fake_fmem_maps, GUEST_SG_MAX);
	/* wrapping past 2^64: refused before any map, for copies too */
	CHECK_EQ(ioreq_guest_map(&g, UINT64_MAX, 2, false, &sg), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, UINT64_MAX - 10, SIZE_MAX, false, &sg),
		 -EFAULT);
	CHECK_EQ(ioreq_guest_read(&g, UINT64_MAX, &sg, 2), -EFAULT);
	CHECK_EQ(fake_fmem_maps, GUEST_SG_MAX);
	/* the last byte of the address space is no RAM: a fault, no wrap */
	CHECK_EQ(ioreq_guest_map(&g, UINT64_MAX, 1, false, &sg), -EFAULT);
	CHECK_EQ(g.pins, 0);
	teardown();
}

/* A range running into a hole: -EFAULT and the pins taken are dropped. */
static void
test_map_hole(void)
{
	struct guest_sg sg;

	setup();
	fake_fmem_hole_first = 0x25; /* chunk 2, page 5 */
	fake_fmem_hole_end = 0x26;
	CHECK_EQ(ioreq_guest_map(&g, CHUNK, 2 * CHUNK, true, &sg), -EFAULT);
	CHECK_EQ(sg.n, 0);
	CHECK_EQ(g.pins, 0);
	/* the pages around the hole map */
	CHECK_EQ(ioreq_guest_map(&g, 2 * CHUNK, 5 * PAGE, true, &sg), 0);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(ioreq_guest_map(&g, 0x26000, PAGE, true, &sg), 0);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(ioreq_guest_map(&g, 0x25fff, 2, true, &sg), -EFAULT);
	teardown();
}

static void
test_pin_cap(void)
{
	struct guest_sg a, b;

	setup();
	CHECK_EQ(ioreq_guest_set_max_pins(&g, 0), -EINVAL);
	CHECK_EQ(ioreq_guest_set_max_pins(&g, IOREQ_GUEST_MAX_PINS + 1),
		 -EINVAL);
	CHECK_EQ(ioreq_guest_set_max_pins(&g, 4), 0);
	CHECK_EQ(ioreq_guest_map(&g, 0, 4 * CHUNK, false, &a), 0);
	CHECK_EQ(ioreq_guest_map(&g, 8 * CHUNK, 1, false, &b), -EBUSY);
	CHECK_EQ(b.n, 0);
	CHECK_EQ(ioreq_guest_set_max_pins(&g, 3), -EBUSY);
	/* copies still work with every pin taken */
	CHECK_EQ(ioreq_guest_read(&g, 8 * CHUNK, &b.n, 1), 0);
	ioreq_guest_unmap(&g, &a);
	CHECK_EQ(ioreq_guest_map(&g, 8 * CHUNK, 1, false, &b), 0);
	ioreq_guest_unmap(&g, &b);
	teardown();
}

/*
 * INVALIDATE while a mapping is held: the held chunk stays mapped (the
 * device may still touch it) and is reported revoked; the rest goes at
 * once; the held chunk goes at the last release.
 */
static void
test_invalidate_held(void)
{
	struct ioreq_guest_stats st;
	struct guest_sg sg, fresh;
	uint8_t *p;

	setup();
	CHECK_EQ(ioreq_guest_read(&g, 3 * CHUNK, &st, 8), 0);
	CHECK_EQ(ioreq_guest_map(&g, 0x1000, 64, true, &sg), 0);
	CHECK(!guest_sg_revoked(&sg));
	p = sg.seg[0].hva;
	ioreq_guest_invalidate(&g);
	CHECK(guest_sg_revoked(&sg));
	CHECK(fake_fmem_mapped(p));
	CHECK_EQ(fake_fmem_live, 1);
	p[0] = 1; /* still host memory we may touch */
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.revocations, 1);
	/* a new mapping of the same range is a new chunk, not revoked */
	CHECK_EQ(ioreq_guest_map(&g, 0x1000, 64, true, &fresh), 0);
	CHECK(!guest_sg_revoked(&fresh));
	CHECK(fresh.seg[0].hva == p); /* the fake maps RAM in place */
	CHECK_EQ(fake_fmem_live, 2);
	ioreq_guest_unmap(&g, &sg);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_live, 1);
	ioreq_guest_unmap(&g, &fresh);
	CHECK_EQ(fake_fmem_live, 1); /* cached, not doomed */
	teardown();
}

/*
 * Held mappings survive eviction: a full set of pinned chunks, a cap of
 * one, and every pin taken while copies sweep 200 chunks.
 */
static void
test_evict_held(void)
{
	static struct guest_sg held[IOREQ_GUEST_MAX_PINS];
	uint8_t b;

	setup();
	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
		CHECK_EQ(ioreq_guest_map(&g, 3 * CHUNK + w * SET_STRIDE, 1,
					 true, &held[w]),
			 0);
	CHECK_EQ(ioreq_guest_read(&g, 3 * CHUNK + 9 * SET_STRIDE, &b, 1), 0);
	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
		CHECK(fake_fmem_mapped(held[w].seg[0].hva));
	CHECK(!guest_sg_revoked(&held[0])); /* evicted, not revoked */
	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
		ioreq_guest_unmap(&g, &held[w]);

	CHECK_EQ(ioreq_guest_set_max_chunks(&g, 1), 0);
	for (unsigned i = 0; i < IOREQ_GUEST_MAX_PINS; i++)
		CHECK_EQ(ioreq_guest_map(&g, (uint64_t)i * CHUNK + 5, 3, true,
					 &held[i]),
			 0);
	for (unsigned i = 0; i < 200; i++)
		CHECK_EQ(ioreq_guest_read(&g, (uint64_t)(i + 100) * CHUNK, &b,
					  1),
			 0);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_live, IOREQ_GUEST_MAX_PINS + 1);
	for (unsigned i = 0; i < IOREQ_GUEST_MAX_PINS; i++) {
		CHECK(fake_fmem_mapped(held[i].seg[0].hva));
		ioreq_guest_unmap(&g, &held[i]);
	}
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_fmem_live, 1);
	teardown();
}

static void
test_grant_mode_switch(void)
{
	struct guest_sg sg;

	setup();
	CHECK_EQ(ioreq_guest_set_mode(&g, IOREQ_GUEST_GRANT, NULL), -EINVAL);
	CHECK_EQ(ioreq_guest_set_mode(&g, (enum ioreq_guest_mode)7,
				      fake_gnttab),
		 -EINVAL);
	CHECK_EQ(ioreq_guest_map(&g, 0, 1, false, &sg), 0);
	CHECK_EQ(ioreq_guest_set_mode(&g, IOREQ_GUEST_GRANT, fake_gnttab),
		 -EBUSY);
	ioreq_guest_unmap(&g, &sg);
	ioreq_guest_invalidate(&g);
	CHECK_EQ(ioreq_guest_set_mode(&g, IOREQ_GUEST_GRANT, fake_gnttab), 0);
	CHECK_EQ(fake_fmem_live, 0);
	teardown();
}

static void
test_grant_decode(void)
{
	struct guest_sg sg;
	char buf[6] = { 0 };

	setup_grant();
	fake_gnttab_grant(5, 0x40, false);
	fake_gnttab_grant(6, 0x13, false); /* not next to 0x40 */
	memcpy(fake_fmem_ram + 0x40123, "hello", 6);
	CHECK_EQ(ioreq_guest_read(&g, GNT(5, 0x123), buf, 6), 0);
	CHECK(memcmp(buf, "hello", 6) == 0);
	/* the end of ref 5's page and the start of ref 6's */
	CHECK_EQ(ioreq_guest_map(&g, GNT(5, 0xff0), 0x20, true, &sg), 0);
	CHECK_EQ(sg.n, 2);
	CHECK(sg.seg[0].hva == fake_fmem_ram + 0x40ff0);
	CHECK_EQ(sg.seg[0].len, 0x10);
	CHECK(sg.seg[1].hva == fake_fmem_ram + 0x13000);
	CHECK_EQ(sg.seg[1].len, 0x10);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(ioreq_guest_write(&g, GNT(6, 0xffe), "ab", 2), 0);
	CHECK(memcmp(fake_fmem_ram + 0x13ffe, "ab", 2) == 0);
	/* a page per segment: GUEST_SG_MAX pages at most */
	CHECK_EQ(ioreq_guest_map(&g, GNT(5, 0), (GUEST_SG_MAX + 1) * PAGE,
				 false, &sg),
		 -E2BIG);
	CHECK_EQ(fake_fmem_maps, 0); /* never a foreign map */
	teardown();
}

static void
test_grant_refused(void)
{
	struct ioreq_guest_stats st;
	struct guest_sg sg;
	uint8_t b = 0;

	setup_grant();
	fake_gnttab_grant(5, 0x40, false);
	/* a guest-physical address (no bit 63): not a grant, no call */
	CHECK_EQ(ioreq_guest_read(&g, 0x40000, &b, 1), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, 0x40000, 1, false, &sg), -EFAULT);
	/* references beyond 32 bits, and a range running past 2^32 refs */
	CHECK_EQ(ioreq_guest_read(&g, GNT(UINT64_C(1) << 32, 0), &b, 1),
		 -EFAULT);
	CHECK_EQ(ioreq_guest_read(&g, GNT(UINT32_MAX, 0xfff), &b, 1), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, GNT(UINT32_MAX, 0xfff), 2, false, &sg),
		 -EFAULT);
	CHECK_EQ(ioreq_guest_read(&g, UINT64_MAX, &b, 1), -EFAULT);
	CHECK_EQ(fake_gnttab_maps, 0);
	/* a reference the guest did not grant: the map is tried and fails */
	CHECK_EQ(ioreq_guest_read(&g, GNT(9, 0), &b, 1), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, GNT(5, 0xfff), 2, false, &sg), -EFAULT);
	CHECK_EQ(sg.n, 0);
	CHECK_EQ(g.pins, 0);
	ioreq_guest_get_stats(&g, &st);
	CHECK_EQ(st.map_failures, 3); /* refs 0xffffffff, 9 and 6 */
	teardown();
}

/* A read-only grant maps for reads only; a writable one maps both ways. */
static void
test_grant_readonly(void)
{
	struct guest_sg sg;
	uint8_t b = 0;

	setup_grant();
	fake_gnttab_grant(7, 0x50, true);
	fake_gnttab_grant(8, 0x51, false);
	fake_fmem_ram[0x50010] = 0x99;
	CHECK_EQ(ioreq_guest_read(&g, GNT(7, 0x10), &b, 1), 0);
	CHECK_EQ(b, 0x99);
	CHECK_EQ(ioreq_guest_write(&g, GNT(7, 0x10), &b, 1), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, GNT(7, 0), 16, true, &sg), -EFAULT);
	CHECK_EQ(ioreq_guest_map(&g, GNT(7, 0), 16, false, &sg), 0);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(fake_fmem_ram[0x50010], 0x99);
	/* A writable grant: a read maps read-only, a write writably. */
	unsigned maps = fake_gnttab_maps, ro_maps = fake_gnttab_ro_maps;
	CHECK_EQ(ioreq_guest_read(&g, GNT(8, 0), &b, 1), 0);
	CHECK_EQ(fake_gnttab_ro_maps, ro_maps + 1);
	CHECK_EQ(ioreq_guest_write(&g, GNT(8, 0), "x", 1), 0);
	CHECK_EQ(fake_fmem_ram[0x51000], 'x');
	CHECK_EQ(fake_gnttab_maps, maps + 2);
	CHECK_EQ(fake_gnttab_ro_maps, ro_maps + 1);
	/* Nothing the device does not hold stays mapped: each copy maps and
	 * unmaps its page. */
	CHECK_EQ(fake_gnttab_live, 0);
	for (unsigned i = 0; i < 10; i++) {
		CHECK_EQ(ioreq_guest_read(&g, GNT(8, i), &b, 1), 0);
		CHECK_EQ(ioreq_guest_write(&g, GNT(8, i), &b, 1), 0);
	}
	CHECK_EQ(fake_gnttab_maps, maps + 22);
	CHECK_EQ(fake_gnttab_live, 0);
	teardown();
}

/*
 * The guest ends a grant and gives its reference to another page: the
 * next access must see the new page, not a mapping kept of the old one.
 */
static void
test_grant_ref_reused(void)
{
	struct guest_sg sg;
	uint8_t b = 0;

	setup_grant();
	fake_gnttab_grant(9, 0x52, false);
	fake_fmem_ram[0x52000] = 0x11;
	fake_fmem_ram[0x53000] = 0x22;
	CHECK_EQ(ioreq_guest_read(&g, GNT(9, 0), &b, 1), 0);
	CHECK_EQ(b, 0x11);
	CHECK_EQ(ioreq_guest_map(&g, GNT(9, 0), 16, false, &sg), 0);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(fake_gnttab_live, 0);
	fake_gnttab_grant(9, 0x53, false);
	CHECK_EQ(ioreq_guest_read(&g, GNT(9, 0), &b, 1), 0);
	CHECK_EQ(b, 0x22);
	/* A mapping held stays mapped until it is released. */
	CHECK_EQ(ioreq_guest_map(&g, GNT(9, 0), 16, false, &sg), 0);
	CHECK_EQ(ioreq_guest_read(&g, GNT(9, 0), &b, 1), 0);
	CHECK_EQ(fake_gnttab_live, 1);
	ioreq_guest_unmap(&g, &sg);
	CHECK_EQ(fake_gnttab_live, 0);
	teardown();
}

/* Grant mode: held across INVALIDATE, unmapped through gnttab. */
static void
test_grant_invalidate_held(void)
{
	struct guest_sg sg;

	setup_grant();
	for (uint32_t r = 10; r < 14; r++)
		fake_gnttab_grant(r, 0x60 + r, false);
	CHECK_EQ(ioreq_guest_map(&g, GNT(10, 0x800), 3 * PAGE, true, &sg), 0);
	CHECK_EQ(sg.n, 4);
	CHECK_EQ(fake_gnttab_live, 4);
	ioreq_guest_invalidate(&g);
	CHECK(guest_sg_revoked(&sg));
	for (unsigned i = 0; i < sg.n; i++)
		CHECK(fake_gnttab_mapped(sg.seg[i].hva));
	ioreq_guest_unmap(&g, &sg);
	ioreq_guest_flush(&g);
	CHECK_EQ(fake_gnttab_live, 0);
	CHECK_EQ(fake_gnttab_unmaps, 4);
	teardown();
}

static void
test_accessors(void)
{
	_Alignas(8) uint8_t mem[8] = { 0 };
	struct guest_sg empty = { 0 };

	guest_store_release_u16(mem, 0x1234);
	guest_store_release_u32(mem + 4, 0xa1b2c3d4);
	CHECK_EQ(guest_load_acquire_u16(mem), 0x1234);
	CHECK_EQ(guest_load_acquire_u32(mem + 4), 0xa1b2c3d4);
	CHECK_EQ(mem[0], 0x34); /* the host's (little-endian) order */
	CHECK_EQ(mem[7], 0xa1);
	guest_mem_fence();
	CHECK(guest_mem_aligned(mem + 4, 4));
	CHECK(!guest_mem_aligned(mem + 2, 4));
	CHECK(guest_mem_aligned(mem + 2, 2));
	CHECK(!guest_sg_revoked(&empty));
}

int
main(void)
{
	test_map_spanning();
	test_map_limits();
	test_map_hole();
	test_pin_cap();
	test_invalidate_held();
	test_evict_held();
	test_grant_mode_switch();
	test_grant_decode();
	test_grant_refused();
	test_grant_readonly();
	test_grant_ref_reused();
	test_grant_invalidate_held();
	test_accessors();
	if (test_failures)
		fprintf(stderr, "%u checks failed\n", test_failures);
	return test_failures ? 1 : 0;
}
