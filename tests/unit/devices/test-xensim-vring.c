/*
 * xensim's guest-side ring code (tests/xensim/vring.c) against the
 * device's own virtqueue core: rings the driver lays out in the fake
 * services' memory must be accepted as they are (alignments, sizes 1 to
 * 1024), every chain must pop with the buffers, directions and order the
 * driver gave, indirect tables included; used elements come back in
 * order across the 16-bit wrap; the descriptor free list neither leaks
 * nor hands one out twice; and both notification-suppression schemes
 * agree with the device's reading of them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "fake-services.h"
#include "test-util.h"
#include "tests/xensim/vring.h"

#define MEM_SIZE  (1u << 22)
#define RING_GPA  0x10000u
#define TABLE_GPA 0x100000u
#define BUF_GPA	  0x200000u

#define F_INDIRECT  (UINT64_C(1) << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (UINT64_C(1) << VIRTIO_F_EVENT_IDX)

struct pair {
	struct fake_services f;
	struct virtqueue vq;
	struct vring vr;
	struct vq_chain chain;
};

static void
pair_init(struct pair *p, unsigned size, uint64_t features)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(fake_services_init(&p->f, MEM_SIZE), 0);
	CHECK_EQ(vring_init(&p->vr, p->f.mem + RING_GPA, size), 0);
	virtqueue_init(&p->vq, &p->f.svc);
	CHECK_EQ(virtqueue_configure(&p->vq, size, RING_GPA,
				     RING_GPA + vring_avail_offset(size),
				     RING_GPA + vring_used_offset(size),
				     features),
		 0);
	CHECK_EQ(virtqueue_enable(&p->vq), 0);
}

static void
pair_fini(struct pair *p)
{
	virtqueue_reset(&p->vq);
	fake_services_fini(&p->f);
}

static void
test_layout(void)
{
	/* The numbers of 2.7 for a 256-entry queue, worked by hand. */
	CHECK_EQ(vring_avail_offset(256), 4096);
	CHECK_EQ(vring_used_offset(256), 4616); /* 4096 + 518, to 4 */
	CHECK_EQ(vring_bytes(256), 4616 + 6 + 2048);
	CHECK_EQ(vring_used_offset(1), 24);
	CHECK_EQ(vring_bytes(1024), 16384 + 2056 + 8198);
	for (unsigned size = 1; size <= VRING_SIZE_MAX; size *= 2) {
		CHECK_EQ(vring_used_offset(size) % 4, 0);
		CHECK(vring_used_offset(size) >=
		      vring_avail_offset(size) + 6 + 2 * size);
	}
	{
		struct vring vr;
		static uint8_t mem[64];

		CHECK_EQ(vring_init(&vr, mem, 0), -EINVAL);
		CHECK_EQ(vring_init(&vr, mem, 3), -EINVAL);
		CHECK_EQ(vring_init(&vr, mem, 2048), -EINVAL);
	}
}

/* Every size the device takes accepts the driver's layout. */
static void
test_sizes(void)
{
	for (unsigned size = 1; size <= VRING_SIZE_MAX; size *= 2) {
		struct pair *p = calloc(1, sizeof(*p));
		struct vring_buf b = { BUF_GPA, 64, true };
		uint16_t head;

		pair_init(p, size, 0);
		CHECK_EQ(p->vr.free_count, size);
		CHECK_EQ(vring_add_chain(&p->vr, &b, 1, &head), 0);
		vring_offer(&p->vr, head);
		CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
		CHECK_EQ(p->chain.head, head);
		CHECK_EQ(p->chain.count, 1);
		CHECK_EQ(p->chain.writable_len, 64);
		pair_fini(p);
		free(p);
	}
}

static void
test_chain(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct vring_buf b[3] = {
		{ BUF_GPA, 16, false },
		{ BUF_GPA + 0x1000, 512, false },
		{ BUF_GPA + 0x2000, 1, true },
	};
	uint16_t head, head2;
	uint32_t id, len;
	uint64_t addr;
	uint32_t dlen;
	uint16_t flags, next;

	pair_init(p, 8, 0);
	CHECK_EQ(vring_add_chain(&p->vr, b, 3, &head), 0);
	CHECK_EQ(head, 0); /* low indices first */
	CHECK_EQ(p->vr.free_count, 5);
	vring_get_desc(p->vr.desc, head, &addr, &dlen, &flags, &next);
	CHECK_EQ(addr, BUF_GPA);
	CHECK_EQ(dlen, 16);
	CHECK_EQ(flags, VRING_DESC_F_NEXT);
	vring_offer(&p->vr, head);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
	CHECK_EQ(p->chain.count, 3);
	CHECK_EQ(p->chain.readable_count, 2);
	CHECK_EQ(p->chain.readable_len, 528);
	CHECK_EQ(p->chain.writable_len, 1);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(p->chain.elem[i].gpa, b[i].gpa);
		CHECK_EQ(p->chain.elem[i].len, b[i].len);
		CHECK_EQ(p->chain.elem[i].writable, b[i].writable);
	}
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), -EAGAIN);
	/* Nothing used yet. */
	CHECK(!vring_take_used(&p->vr, &id, &len));
	CHECK_EQ(virtqueue_push(&p->vq, head, 1), 0);
	CHECK(vring_take_used(&p->vr, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 1);
	CHECK(!vring_take_used(&p->vr, &id, &len));
	CHECK(vring_free_chain(&p->vr, head));
	CHECK(!vring_free_chain(&p->vr, head)); /* not twice */
	CHECK(!vring_free_chain(&p->vr, 8));	/* out of the ring */
	CHECK_EQ(p->vr.free_count, 8);
	/* A full table, then no more. */
	{
		struct vring_buf eight[8];

		for (unsigned i = 0; i < 8; i++)
			eight[i] = (struct vring_buf){ BUF_GPA + 64 * i, 64,
						       i >= 4 };
		CHECK_EQ(vring_add_chain(&p->vr, eight, 9, &head), -ENOSPC);
		CHECK_EQ(vring_add_chain(&p->vr, eight, 0, &head), -EINVAL);
		CHECK_EQ(vring_add_chain(&p->vr, eight, 8, &head), 0);
		CHECK_EQ(vring_add_chain(&p->vr, eight, 1, &head2), -ENOSPC);
		vring_offer(&p->vr, head);
		CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
		CHECK_EQ(p->chain.count, 8);
		CHECK_EQ(p->chain.readable_count, 4);
		CHECK(vring_free_chain(&p->vr, head));
		CHECK_EQ(p->vr.free_count, 8);
	}
	pair_fini(p);
	free(p);
}

static void
test_indirect(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	static struct vring_buf b[300];
	uint16_t head;

	for (unsigned i = 0; i < 300; i++)
		b[i] = (struct vring_buf){ BUF_GPA + 16 * i, 16, i >= 100 };
	pair_init(p, 4, F_INDIRECT);
	CHECK_EQ(vring_add_indirect(&p->vr, b, 0, p->f.mem + TABLE_GPA,
				    TABLE_GPA, &head),
		 -EINVAL);
	/* More buffers than the queue has entries: the point of indirect. */
	CHECK_EQ(vring_add_indirect(&p->vr, b, 300, p->f.mem + TABLE_GPA,
				    TABLE_GPA, &head),
		 0);
	CHECK_EQ(p->vr.free_count, 3);
	vring_offer(&p->vr, head);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
	CHECK_EQ(p->chain.head, head);
	CHECK_EQ(p->chain.count, 300);
	CHECK_EQ(p->chain.readable_count, 100);
	CHECK_EQ(p->chain.writable_len, 200 * 16);
	CHECK_EQ(p->chain.elem[299].gpa, BUF_GPA + 16 * 299);
	CHECK(vring_free_chain(&p->vr, head));
	CHECK_EQ(p->vr.free_count, 4);
	pair_fini(p);
	free(p);
}

/* Two laps of the 16-bit indices with chains of 1 to 3 descriptors. */
static void
test_wrap(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	unsigned bad = 0;

	pair_init(p, 16, 0);
	for (unsigned n = 0; n < 2 * 65536 + 7; n++) {
		struct vring_buf b[3] = {
			{ BUF_GPA, 8, false },
			{ BUF_GPA + 8, 8, true },
			{ BUF_GPA + 16, 8, true },
		};
		unsigned count = 1 + n % 3;
		uint16_t head;
		uint32_t id = 0, len = 0;

		if (vring_add_chain(&p->vr, b, count, &head) < 0) {
			bad++;
			break;
		}
		vring_offer(&p->vr, head);
		if (virtqueue_pop(&p->vq, &p->chain) != 0 ||
		    p->chain.count != count || p->chain.head != head ||
		    virtqueue_push(&p->vq, head, (uint32_t)n) != 0 ||
		    !vring_take_used(&p->vr, &id, &len) || id != head ||
		    len != (uint32_t)n || !vring_free_chain(&p->vr, head))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(p->vr.avail_idx, (uint16_t)(2 * 65536 + 7));
	CHECK_EQ(p->vr.last_used, p->vr.avail_idx);
	CHECK_EQ(vring_used_idx(&p->vr), p->vr.avail_idx);
	CHECK_EQ(p->vr.free_count, 16);
	pair_fini(p);
	free(p);
}

/* Several in flight, completed out of order, descriptors reused. */
static void
test_out_of_order(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint16_t heads[4];
	uint16_t popped[4];
	uint32_t id, len;

	pair_init(p, 8, 0);
	for (unsigned i = 0; i < 4; i++) {
		struct vring_buf b[2] = { { BUF_GPA, 4, false },
					  { BUF_GPA + 4, 4, true } };

		CHECK_EQ(vring_add_chain(&p->vr, b, 2, &heads[i]), 0);
		vring_offer(&p->vr, heads[i]);
	}
	CHECK_EQ(p->vr.free_count, 0);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
		popped[i] = p->chain.head;
		CHECK_EQ(popped[i], heads[i]);
	}
	CHECK_EQ(virtqueue_push(&p->vq, heads[2], 2), 0);
	CHECK_EQ(virtqueue_push(&p->vq, heads[0], 0), 0);
	CHECK(vring_take_used(&p->vr, &id, &len));
	CHECK_EQ(id, heads[2]);
	CHECK(vring_free_chain(&p->vr, (uint16_t)id));
	CHECK(vring_take_used(&p->vr, &id, &len));
	CHECK_EQ(id, heads[0]);
	CHECK(vring_free_chain(&p->vr, (uint16_t)id));
	CHECK_EQ(p->vr.free_count, 4);
	/* The freed descriptors make a new chain the device reads whole. */
	{
		struct vring_buf b[4];
		uint16_t head;

		for (unsigned i = 0; i < 4; i++)
			b[i] = (struct vring_buf){ BUF_GPA + 0x100 * i, 32,
						   i == 3 };
		CHECK_EQ(vring_add_chain(&p->vr, b, 4, &head), 0);
		vring_offer(&p->vr, head);
		CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
		CHECK_EQ(p->chain.count, 4);
		for (unsigned i = 0; i < 4; i++)
			CHECK_EQ(p->chain.elem[i].gpa, b[i].gpa);
	}
	pair_fini(p);
	free(p);
}

/* Used buffer notifications: the flag, then used_event. */
static void
test_suppress(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct vring_buf b = { BUF_GPA, 4, true };
	uint16_t head;
	uint32_t id, len;

	pair_init(p, 8, 0);
	vring_set_avail_flags(&p->vr, VRING_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(vring_add_chain(&p->vr, &b, 1, &head), 0);
	vring_offer(&p->vr, head);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
	CHECK_EQ(virtqueue_push(&p->vq, head, 4), 0);
	CHECK(!virtqueue_should_notify(&p->vq));
	vring_set_avail_flags(&p->vr, 0);
	CHECK(vring_take_used(&p->vr, &id, &len));
	CHECK(vring_free_chain(&p->vr, head));
	pair_fini(p);

	pair_init(p, 8, F_EVENT_IDX);
	/* used_event = last_used - 1: no interrupt however many complete. */
	vring_set_used_event(&p->vr, (uint16_t)(p->vr.last_used - 1));
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(vring_add_chain(&p->vr, &b, 1, &head), 0);
		vring_offer(&p->vr, head);
		CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
		CHECK_EQ(virtqueue_push(&p->vq, head, 4), 0);
		CHECK(!virtqueue_should_notify(&p->vq));
		CHECK(vring_take_used(&p->vr, &id, &len));
		CHECK(vring_free_chain(&p->vr, head));
	}
	/* used_event = last_used: the next completion interrupts. */
	vring_set_used_event(&p->vr, p->vr.last_used);
	CHECK_EQ(vring_add_chain(&p->vr, &b, 1, &head), 0);
	vring_offer(&p->vr, head);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
	CHECK_EQ(virtqueue_push(&p->vq, head, 4), 0);
	CHECK(virtqueue_should_notify(&p->vq));
	pair_fini(p);
	free(p);
}

/* The device's wishes about kicks, as the driver reads them. */
static void
test_kick_suppress(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct vring_buf b = { BUF_GPA, 4, true };
	uint16_t head;

	pair_init(p, 8, 0);
	CHECK_EQ(virtqueue_set_notify(&p->vq, false), 0);
	CHECK_EQ(vring_used_flags(&p->vr), VRING_USED_F_NO_NOTIFY);
	CHECK_EQ(virtqueue_set_notify(&p->vq, true), 0);
	CHECK_EQ(vring_used_flags(&p->vr), 0);
	pair_fini(p);

	pair_init(p, 8, F_EVENT_IDX);
	CHECK_EQ(virtqueue_set_notify(&p->vq, true), 0);
	CHECK_EQ(vring_add_chain(&p->vr, &b, 1, &head), 0);
	vring_offer(&p->vr, head);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), 0);
	/* The device waits for entry 1 now: a driver at 1 -> 2 kicks. */
	CHECK_EQ(vring_avail_event(&p->vr), 1);
	CHECK(vring_need_event(vring_avail_event(&p->vr), 2, 1));
	CHECK(!vring_need_event(vring_avail_event(&p->vr), 1, 1));
	pair_fini(p);
	free(p);
}

/* vring_need_event against the rule's definition, exhaustively near 0. */
static void
test_need_event(void)
{
	unsigned bad = 0;

	for (int e = -4; e <= 4; e++)
		for (int o = -4; o <= 4; o++)
			for (int n = o; n <= o + 6; n++) {
				/* notify iff event lies in [old, new) */
				bool want = e >= o && e < n;
				bool got = vring_need_event((uint16_t)e,
							    (uint16_t)n,
							    (uint16_t)o);

				bad += want != got;
			}
	CHECK_EQ(bad, 0);
	CHECK(vring_need_event(0xffff, 0, 0xffff));
	CHECK(!vring_need_event(0, 0, 0xffff));
}

/* A hostile chain the driver writes itself: the device sees the loop. */
static void
test_alloc_hostile(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint16_t idx[2];

	pair_init(p, 8, 0);
	CHECK_EQ(vring_alloc(&p->vr, 0, idx), -EINVAL);
	CHECK_EQ(vring_alloc(&p->vr, 9, idx), -ENOSPC);
	CHECK_EQ(vring_alloc(&p->vr, 2, idx), 0);
	vring_put_desc(p->vr.desc, idx[0], BUF_GPA, 4,
		       VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, idx[1]);
	vring_put_desc(p->vr.desc, idx[1], BUF_GPA, 4,
		       VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, idx[0]);
	vring_offer(&p->vr, idx[0]);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), -EIO);
	CHECK_EQ(virtqueue_error(&p->vq), VQ_ERR_CHAIN_LONG);
	CHECK(vring_free_chain(&p->vr, idx[0]));
	CHECK_EQ(p->vr.free_count, 8);
	pair_fini(p);

	/* An avail.idx jump past the size. */
	pair_init(p, 8, 0);
	vring_set_avail_idx(&p->vr, 9);
	CHECK_EQ(virtqueue_pop(&p->vq, &p->chain), -EIO);
	CHECK_EQ(virtqueue_error(&p->vq), VQ_ERR_AVAIL_IDX);
	pair_fini(p);
	free(p);
}

int
main(void)
{
	test_layout();
	test_sizes();
	test_chain();
	test_indirect();
	test_wrap();
	test_out_of_order();
	test_suppress();
	test_kick_suppress();
	test_need_event();
	test_alloc_hostile();
	return test_finish();
}
