/*
 * The split virtqueue core against rings built in the fake services'
 * guest memory: well-formed chains (direct, indirect, mixed), both kinds
 * of notification suppression in both directions, the 16-bit index wrap,
 * and a hostile driver: every broken ring rule gives -EIO and its
 * VQ_ERR_*, memory faults, areas split between mapping segments,
 * revocation, and random rings that must never crash or hang.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "fake-services.h"
#include "test-util.h"

#define MEM_SIZE  (1u << 20)
#define DESC_GPA  0x10000u
#define AVAIL_GPA 0x20000u
#define USED_GPA  0x30000u
#define TABLE_GPA 0x40000u /* indirect tables */
#define BUF_GPA	  0x80000u /* data buffers */

#define F_INDIRECT  (UINT64_C(1) << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (UINT64_C(1) << VIRTIO_F_EVENT_IDX)

#define R 0 /* device-readable */
#define W VIRTQ_DESC_F_WRITE
#define N VIRTQ_DESC_F_NEXT
#define I VIRTQ_DESC_F_INDIRECT

/* The driver's side: where the rings are and its own avail index. */
struct drv {
	struct fake_services f;
	struct virtqueue vq;
	struct vq_chain chain;
	uint64_t desc, avail, used;
	unsigned size;
	uint16_t avail_idx;
};

static void
put16(struct drv *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(d->f.mem + gpa, &v, 2);
}

static uint16_t
get16(struct drv *d, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, d->f.mem + gpa, 2);
	return le16toh(v);
}

static uint32_t
get32(struct drv *d, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, d->f.mem + gpa, 4);
	return le32toh(v);
}

/* A descriptor at `gpa` (table entry or indirect entry). */
static void
put_desc_at(struct drv *d, uint64_t gpa, uint64_t addr, uint32_t len,
	    uint16_t flags, uint16_t next)
{
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);

	memcpy(d->f.mem + gpa, &a, 8);
	memcpy(d->f.mem + gpa + 8, &l, 4);
	put16(d, gpa + 12, flags);
	put16(d, gpa + 14, next);
}

static void
put_desc(struct drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	 uint16_t next)
{
	put_desc_at(d, d->desc + 16 * i, addr, len, flags, next);
}

/* Offer chain `head`: ring entry, then avail.idx. */
static void
offer(struct drv *d, uint16_t head)
{
	put16(d, d->avail + 4 + 2 * (d->avail_idx % d->size), head);
	put16(d, d->avail + 2, ++d->avail_idx);
}

static void
set_avail_idx(struct drv *d, uint16_t idx)
{
	d->avail_idx = idx;
	put16(d, d->avail + 2, idx);
}

#define USED_IDX(d)	      get16((d), (d)->used + 2)
#define USED_FLAGS(d)	      get16((d), (d)->used)
#define USED_ID(d, i)	      get32((d), (d)->used + 4 + 8 * ((i) % (d)->size))
#define USED_LEN(d, i)	      get32((d), (d)->used + 8 + 8 * ((i) % (d)->size))
#define AVAIL_EVENT(d)	      get16((d), (d)->used + 4 + 8 * (d)->size)
#define SET_USED_EVENT(d, v)  put16((d), (d)->avail + 4 + 2 * (d)->size, (v))
#define SET_AVAIL_FLAGS(d, v) put16((d), (d)->avail, (v))

static void
drv_init_at(struct drv *d, unsigned size, uint64_t features, uint64_t desc,
	    uint64_t avail, uint64_t used)
{
	memset(d, 0, sizeof(*d));
	CHECK_EQ(fake_services_init(&d->f, MEM_SIZE), 0);
	d->size = size;
	d->desc = desc;
	d->avail = avail;
	d->used = used;
	virtqueue_init(&d->vq, &d->f.svc);
	CHECK_EQ(virtqueue_configure(&d->vq, size, desc, avail, used, features),
		 0);
}

static void
drv_init(struct drv *d, unsigned size, uint64_t features)
{
	drv_init_at(d, size, features, DESC_GPA, AVAIL_GPA, USED_GPA);
	CHECK_EQ(virtqueue_enable(&d->vq), 0);
}

static void
drv_fini(struct drv *d)
{
	virtqueue_reset(&d->vq);
	CHECK_EQ(d->f.maps_held, 0);
	fake_services_fini(&d->f);
}

/* Pop expecting the queue to break with `error`. */
static void
expect_broken(struct drv *d, enum vq_error error)
{
	uint64_t errors = d->vq.stats.errors, pops = d->vq.stats.pops;
	uint16_t used_idx = USED_IDX(d);

	CHECK_EQ(virtqueue_pop(&d->vq, &d->chain), -EIO);
	CHECK_EQ(virtqueue_error(&d->vq), error);
	if (virtqueue_error(&d->vq) != error)
		fprintf(stderr, "  got %s\n",
			vq_error_name(virtqueue_error(&d->vq)));
	/* Broken stays broken, nothing consumed, nothing written. */
	CHECK_EQ(virtqueue_pop(&d->vq, &d->chain), -EIO);
	CHECK_EQ(virtqueue_push(&d->vq, 0, 0), -EIO);
	CHECK(!virtqueue_should_notify(&d->vq));
	CHECK_EQ(virtqueue_set_notify(&d->vq, true), -EIO);
	CHECK_EQ(USED_IDX(d), used_idx);
	CHECK_EQ(d->vq.stats.errors, errors + 1);
	CHECK_EQ(d->vq.stats.pops, pops);
}

static void
test_configure(void)
{
	struct fake_services f;
	struct virtqueue vq;
	static const unsigned bad_sizes[] = { 0, 3, 6, 1023, 2048, 65536 };

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	virtqueue_init(&vq, &f.svc);
	CHECK_EQ(virtqueue_enable(&vq), -EINVAL); /* not configured */
	for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		CHECK_EQ(virtqueue_configure(&vq, bad_sizes[i], DESC_GPA,
					     AVAIL_GPA, USED_GPA, 0),
			 -EINVAL);
	CHECK_EQ(virtqueue_configure(&vq, 1, DESC_GPA, AVAIL_GPA, USED_GPA, 0),
		 0);
	CHECK_EQ(virtqueue_configure(&vq, 1024, DESC_GPA, AVAIL_GPA, USED_GPA,
				     0),
		 0);
	/* Alignment 16 / 2 / 4. */
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA,
				     0),
		 -EINVAL);
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA,
				     0),
		 -EINVAL);
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2,
				     0),
		 -EINVAL);
	/* Areas that wrap past 2^64. */
	CHECK_EQ(virtqueue_configure(&vq, 8, UINT64_MAX - 15, AVAIL_GPA,
				     USED_GPA, 0),
		 -EINVAL);
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, AVAIL_GPA,
				     UINT64_MAX - 3, 0),
		 -EINVAL);
	CHECK_EQ(virtqueue_enable(&vq), -EINVAL); /* the failure cleared */

	/* Rings outside guest memory: enable fails, nothing stays mapped. */
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, MEM_SIZE - 8, USED_GPA,
				     0),
		 0);
	CHECK_EQ(virtqueue_enable(&vq), -EFAULT);
	CHECK_EQ(f.maps_held, 0);
	CHECK(!vq.enabled);

	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0),
		 0);
	f.fail_map = -EBUSY;
	CHECK_EQ(virtqueue_enable(&vq), -EBUSY);
	f.fail_map = 0;
	CHECK_EQ(virtqueue_enable(&vq), 0);
	CHECK_EQ(f.maps_held, 3);
	CHECK_EQ(virtqueue_enable(&vq), -EBUSY);
	CHECK_EQ(virtqueue_configure(&vq, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 0),
		 -EBUSY);
	virtqueue_disable(&vq);
	virtqueue_disable(&vq);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(virtqueue_pop(&vq, NULL), -EINVAL);
	CHECK_EQ(virtqueue_push(&vq, 0, 0), -EINVAL);

	/* No guest_map service. */
	f.svc.guest_map = NULL;
	CHECK_EQ(virtqueue_enable(&vq), -EOPNOTSUPP);
	fake_services_fini(&f);
}

static void
test_single(void)
{
	struct drv d;

	drv_init(&d, 8, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EAGAIN);
	put_desc(&d, 5, BUF_GPA, 100, R, 0);
	offer(&d, 5);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.head, 5);
	CHECK_EQ(d.chain.count, 1);
	CHECK_EQ(d.chain.readable_count, 1);
	CHECK_EQ(d.chain.elem[0].gpa, BUF_GPA);
	CHECK_EQ(d.chain.elem[0].len, 100);
	CHECK(!d.chain.elem[0].writable);
	CHECK_EQ(d.chain.readable_len, 100);
	CHECK_EQ(d.chain.writable_len, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EAGAIN);

	CHECK_EQ(virtqueue_push(&d.vq, 5, 0), 0);
	CHECK_EQ(USED_IDX(&d), 1);
	CHECK_EQ(USED_ID(&d, 0), 5);
	CHECK_EQ(USED_LEN(&d, 0), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 8, 0), -EINVAL); /* our bug */
	CHECK_EQ(USED_IDX(&d), 1);
	CHECK_EQ(d.vq.stats.pops, 1);
	CHECK_EQ(d.vq.stats.pushes, 1);
	CHECK_EQ(d.vq.stats.bytes_read, 100);
	CHECK_EQ(d.vq.stats.errors, 0);
	drv_fini(&d);
}

static void
test_read_write_chain(void)
{
	struct drv d;

	drv_init(&d, 8, 0);
	/* 0 -> 7 -> 3: header (R), data (W), status (W), out of order. */
	put_desc(&d, 0, BUF_GPA, 16, R | N, 7);
	put_desc(&d, 7, BUF_GPA + 0x1000, 4096, W | N, 3);
	put_desc(&d, 3, BUF_GPA + 0x3000, 1, W, 0xffff); /* next ignored */
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.head, 0);
	CHECK_EQ(d.chain.count, 3);
	CHECK_EQ(d.chain.readable_count, 1);
	CHECK_EQ(d.chain.readable_len, 16);
	CHECK_EQ(d.chain.writable_len, 4097);
	CHECK(!d.chain.elem[0].writable);
	CHECK(d.chain.elem[1].writable);
	CHECK_EQ(d.chain.elem[1].gpa, BUF_GPA + 0x1000);
	CHECK(d.chain.elem[2].writable);
	CHECK_EQ(d.chain.elem[2].len, 1);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 4097), 0);
	CHECK_EQ(USED_LEN(&d, 0), 4097);

	/* A chain as long as the queue, zero-length buffers included. */
	for (unsigned i = 0; i < 8; i++)
		put_desc(&d, i, BUF_GPA, i & 1 ? 0 : 8, i < 7 ? N : 0,
			 (i + 1) % 8);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.count, 8);
	CHECK_EQ(d.chain.readable_len, 32);
	/* The last byte of the address space is a fine buffer end. */
	put_desc(&d, 1, UINT64_MAX - 7, 8, W, 0);
	put_desc(&d, 2, UINT64_MAX, 0, W, 0);
	offer(&d, 1);
	offer(&d, 2);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.elem[0].gpa, UINT64_MAX - 7);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_error(&d.vq), VQ_ERR_NONE);
	drv_fini(&d);
}

static void
test_indirect(void)
{
	struct drv d;

	drv_init(&d, 4, F_INDIRECT);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 32, R | N, 2);
	put_desc_at(&d, TABLE_GPA + 32, BUF_GPA + 0x100, 64, W | N, 1);
	put_desc_at(&d, TABLE_GPA + 16, BUF_GPA + 0x200, 1, W, 0);
	/* The WRITE flag of the table's own descriptor is ignored. */
	put_desc(&d, 2, TABLE_GPA, 48, I | W, 0);
	offer(&d, 2);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.head, 2);
	CHECK_EQ(d.chain.count, 3);
	CHECK_EQ(d.chain.readable_count, 1);
	CHECK_EQ(d.chain.elem[1].gpa, BUF_GPA + 0x100);
	CHECK_EQ(d.chain.elem[2].gpa, BUF_GPA + 0x200);
	CHECK_EQ(d.chain.writable_len, 65);

	/* Direct descriptors, then one table (spec 2.7.5.3.2). */
	put_desc(&d, 0, BUF_GPA + 0x300, 8, R | N, 1);
	put_desc(&d, 1, TABLE_GPA, 48, I, 0);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.count, 4);
	CHECK_EQ(d.chain.readable_count, 2);
	CHECK_EQ(d.chain.readable_len, 40);

	/* The biggest table: VQ_INDIRECT_MAX entries behind a 4-entry ring. */
	for (unsigned i = 0; i < VQ_INDIRECT_MAX; i++)
		put_desc_at(&d, TABLE_GPA + 16 * i, BUF_GPA, 1,
			    i + 1 < VQ_INDIRECT_MAX ? N : 0, i + 1);
	put_desc(&d, 3, TABLE_GPA, 16 * VQ_INDIRECT_MAX, I, 0);
	offer(&d, 3);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.count, VQ_INDIRECT_MAX);
	CHECK_EQ(d.chain.readable_len, VQ_INDIRECT_MAX);
	/* ...one more direct element in front is one too many. */
	put_desc(&d, 0, BUF_GPA, 8, R | N, 3);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_CHAIN_LONG);
	drv_fini(&d);
}

/* Without EVENT_IDX: avail.flags one way, used.flags the other. */
static void
test_notify_flags(void)
{
	struct drv d;

	drv_init(&d, 8, 0);
	CHECK(!virtqueue_should_notify(&d.vq)); /* nothing pushed */
	put_desc(&d, 0, BUF_GPA, 8, R, 0);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK(virtqueue_should_notify(&d.vq));
	CHECK(!virtqueue_should_notify(&d.vq)); /* already told */

	SET_AVAIL_FLAGS(&d, VIRTQ_AVAIL_F_NO_INTERRUPT);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK(!virtqueue_should_notify(&d.vq));
	SET_AVAIL_FLAGS(&d, 0);
	CHECK_EQ(d.vq.stats.notifies, 1);
	CHECK_EQ(d.vq.stats.suppressed, 1);
	/* used_event means nothing without the feature. */
	SET_USED_EVENT(&d, 100);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK(virtqueue_should_notify(&d.vq));

	/* Kicks: used.flags NO_NOTIFY, avail_event untouched. */
	CHECK_EQ(virtqueue_set_notify(&d.vq, false), 0);
	CHECK_EQ(USED_FLAGS(&d), VIRTQ_USED_F_NO_NOTIFY);
	CHECK_EQ(virtqueue_set_notify(&d.vq, true), 0);
	CHECK_EQ(USED_FLAGS(&d), 0);
	offer(&d, 0); /* meanwhile */
	CHECK_EQ(virtqueue_set_notify(&d.vq, true), 1);
	CHECK_EQ(AVAIL_EVENT(&d), 0);
	drv_fini(&d);
}

/* With EVENT_IDX: used_event one way, avail_event the other. */
static void
test_notify_event_idx(void)
{
	struct drv d;

	drv_init(&d, 8, F_EVENT_IDX);
	for (unsigned i = 0; i < 8; i++)
		put_desc(&d, i, BUF_GPA, 8, R, 0);
	/* Notify when used.idx reaches used_event + 1 = 3. */
	SET_USED_EVENT(&d, 2);
	for (unsigned i = 0; i < 3; i++) {
		offer(&d, (uint16_t)i);
		CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
		/* pop keeps avail_event at the next entry while enabled */
		CHECK_EQ(AVAIL_EVENT(&d), i + 1);
		CHECK_EQ(virtqueue_push(&d.vq, (uint16_t)i, 0), 0);
		CHECK_EQ(virtqueue_should_notify(&d.vq), i == 2);
	}
	/* A batch: 3 -> 6 crosses used_event 4, 6 -> 7 does not pass 7. */
	SET_USED_EVENT(&d, 4);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK(virtqueue_should_notify(&d.vq));
	SET_USED_EVENT(&d, 7);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK(!virtqueue_should_notify(&d.vq));
	/* The flags' low bit is ignored with EVENT_IDX. */
	SET_AVAIL_FLAGS(&d, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0); /* 7 -> 8 */
	CHECK(virtqueue_should_notify(&d.vq));

	/* Kicks off: avail_event stays behind, used.flags stays 0. */
	CHECK_EQ(virtqueue_set_notify(&d.vq, false), 0);
	CHECK_EQ(USED_FLAGS(&d), 0);
	offer(&d, 1);
	offer(&d, 2);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(AVAIL_EVENT(&d), 3);
	/* On again: avail_event = next entry, and one is already there. */
	CHECK_EQ(virtqueue_set_notify(&d.vq, true), 1);
	CHECK_EQ(AVAIL_EVENT(&d), 4);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(AVAIL_EVENT(&d), 5);
	CHECK_EQ(virtqueue_set_notify(&d.vq, true), 0);
	CHECK_EQ(USED_FLAGS(&d), 0);
	drv_fini(&d);
}

/* Both indices around 65535 -> 0, with EVENT_IDX at the boundary. */
static void
test_wrap(void)
{
	struct drv d;
	unsigned i;

	drv_init(&d, 4, F_EVENT_IDX);
	for (i = 0; i < 4; i++)
		put_desc(&d, i, BUF_GPA, 8, W, 0);
	SET_USED_EVENT(&d, 65535);
	for (i = 0; i < 65535; i++) {
		offer(&d, (uint16_t)(i % 4));
		if (virtqueue_pop(&d.vq, &d.chain) != 0 ||
		    d.chain.head != i % 4)
			break;
		if (virtqueue_push(&d.vq, d.chain.head, 1) != 0)
			break;
	}
	CHECK_EQ(i, 65535);
	CHECK_EQ(USED_IDX(&d), 65535);
	CHECK(!virtqueue_should_notify(&d.vq)); /* 0 -> 65535: not past */
	offer(&d, 3);
	CHECK_EQ(d.avail_idx, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.chain.head, 3);
	CHECK_EQ(AVAIL_EVENT(&d), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 3, 7), 0);
	CHECK_EQ(USED_IDX(&d), 0);
	CHECK_EQ(USED_ID(&d, 65535), 3);
	CHECK_EQ(USED_LEN(&d, 65535), 7);
	CHECK(virtqueue_should_notify(&d.vq)); /* 65535 -> 0 passes it */
	/* Four more across the wrap of avail.idx. */
	for (i = 0; i < 4; i++)
		offer(&d, (uint16_t)i);
	for (i = 0; i < 4; i++)
		CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EAGAIN);
	CHECK_EQ(d.vq.stats.pops, 65540);
	drv_fini(&d);
}

static void
test_hostile_indices(void)
{
	struct drv d;

	/* Head >= size. */
	drv_init(&d, 8, 0);
	offer(&d, 8);
	expect_broken(&d, VQ_ERR_HEAD);
	/* Reset and enable again: works, the counters stay. */
	virtqueue_reset(&d.vq);
	CHECK_EQ(virtqueue_error(&d.vq), VQ_ERR_NONE);
	CHECK_EQ(d.vq.stats.errors, 1);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EINVAL);
	CHECK_EQ(virtqueue_configure(&d.vq, 8, DESC_GPA, AVAIL_GPA, USED_GPA,
				     0),
		 0);
	CHECK_EQ(virtqueue_enable(&d.vq), 0);
	set_avail_idx(&d, 0);
	put_desc(&d, 0, BUF_GPA, 8, R, 0);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	drv_fini(&d);

	drv_init(&d, 8, 0);
	offer(&d, 0xffff);
	expect_broken(&d, VQ_ERR_HEAD);
	drv_fini(&d);

	/* next >= size. */
	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R | N, 8);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_NEXT);
	drv_fini(&d);

	/* A loop a -> b -> a. */
	drv_init(&d, 8, 0);
	put_desc(&d, 1, BUF_GPA, 8, R | N, 6);
	put_desc(&d, 6, BUF_GPA, 8, R | N, 1);
	offer(&d, 1);
	expect_broken(&d, VQ_ERR_CHAIN_LONG);
	drv_fini(&d);

	/* Longer than the queue: all of it, then once more. */
	drv_init(&d, 4, 0);
	for (unsigned i = 0; i < 4; i++)
		put_desc(&d, i, BUF_GPA, 8, R | N, i < 3 ? i + 1 : 1);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_CHAIN_LONG);
	drv_fini(&d);

	/* A self-loop on a queue of 1. */
	drv_init(&d, 1, 0);
	put_desc(&d, 0, BUF_GPA, 8, W | N, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_CHAIN_LONG);
	drv_fini(&d);

	/* avail.idx moves by exactly size: fine; by more: broken. */
	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R, 0);
	set_avail_idx(&d, 8);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EAGAIN);
	set_avail_idx(&d, 17);
	expect_broken(&d, VQ_ERR_AVAIL_IDX);
	drv_fini(&d);

	/* Going backwards is a jump of almost 2^16. */
	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R, 0);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	set_avail_idx(&d, 0);
	expect_broken(&d, VQ_ERR_AVAIL_IDX);
	drv_fini(&d);
}

static void
test_hostile_chains(void)
{
	static const uint32_t bad_lens[] = {
		0, 8, 24, 17, 16 * (VQ_INDIRECT_MAX + 1), 0xfffffff0
	};
	struct drv d;

	/* Writable, then readable. */
	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R | N, 1);
	put_desc(&d, 1, BUF_GPA, 8, W | N, 2);
	put_desc(&d, 2, BUF_GPA, 8, R, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_ORDER);
	drv_fini(&d);

	/* ...also across the step into an indirect table. */
	drv_init(&d, 8, F_INDIRECT);
	put_desc(&d, 0, BUF_GPA, 8, W | N, 1);
	put_desc(&d, 1, TABLE_GPA, 16, I, 0);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_ORDER);
	drv_fini(&d);

	/* INDIRECT without the feature. */
	drv_init(&d, 8, F_EVENT_IDX);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R, 0);
	put_desc(&d, 0, TABLE_GPA, 16, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_INDIRECT_FEATURE);
	drv_fini(&d);

	/* INDIRECT together with NEXT. */
	drv_init(&d, 8, F_INDIRECT);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R, 0);
	put_desc(&d, 0, TABLE_GPA, 16, I | N, 1);
	put_desc(&d, 1, BUF_GPA, 8, W, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_INDIRECT_NEXT);
	drv_fini(&d);

	/* A table in a table. */
	drv_init(&d, 8, F_INDIRECT);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R | N, 1);
	put_desc_at(&d, TABLE_GPA + 16, TABLE_GPA, 32, I, 0);
	put_desc(&d, 0, TABLE_GPA, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_INDIRECT_NESTED);
	drv_fini(&d);

	/* Table lengths: 0, not a multiple of 16, too many entries. */
	for (unsigned i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
		drv_init(&d, 8, F_INDIRECT);
		put_desc(&d, 0, TABLE_GPA, bad_lens[i], I, 0);
		offer(&d, 0);
		expect_broken(&d, VQ_ERR_INDIRECT_LEN);
		drv_fini(&d);
	}

	/* Inside a table: next past its end, and a loop. */
	drv_init(&d, 8, F_INDIRECT);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R | N, 2); /* 2 entries */
	put_desc(&d, 0, TABLE_GPA, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_NEXT);
	drv_fini(&d);

	drv_init(&d, 8, F_INDIRECT);
	put_desc_at(&d, TABLE_GPA, BUF_GPA, 8, R | N, 1);
	put_desc_at(&d, TABLE_GPA + 16, BUF_GPA, 8, R | N, 0);
	put_desc(&d, 0, TABLE_GPA, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_CHAIN_LONG);
	drv_fini(&d);
}

/* Addresses: wraps past 2^64, and tables outside guest memory. */
static void
test_hostile_addresses(void)
{
	struct drv d;

	drv_init(&d, 8, 0);
	put_desc(&d, 0, UINT64_MAX - 3, 8, R, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_ADDR);
	drv_fini(&d);

	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R | N, 1);
	put_desc(&d, 1, 1, UINT32_MAX, W | N, 2); /* fine */
	put_desc(&d, 2, UINT64_MAX - UINT32_MAX + 2, UINT32_MAX, W, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_ADDR);
	drv_fini(&d);

	drv_init(&d, 8, F_INDIRECT);
	put_desc(&d, 0, UINT64_MAX - 15, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_ADDR);
	drv_fini(&d);

	/* A table beyond guest memory, and one whose end is beyond. */
	drv_init(&d, 8, F_INDIRECT);
	put_desc(&d, 0, MEM_SIZE + 0x1000, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_FAULT);
	drv_fini(&d);

	drv_init(&d, 8, F_INDIRECT);
	put_desc_at(&d, MEM_SIZE - 16, BUF_GPA, 8, R | N, 1);
	put_desc(&d, 0, MEM_SIZE - 16, 32, I, 0);
	offer(&d, 0);
	expect_broken(&d, VQ_ERR_FAULT);
	drv_fini(&d);

	/* A buffer in a hole is the device's business, not the ring's. */
	drv_init(&d, 8, 0);
	put_desc(&d, 0, MEM_SIZE + 0x1000, 8, W, 0);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	drv_fini(&d);
}

/*
 * Rings across 4 KiB mapping segments: the descriptor table, the avail
 * ring and a used element that straddle a boundary.
 */
static void
test_segments(void)
{
	struct drv d;
	const uint64_t b = 0x5000; /* a segment boundary */

	/* desc 8 * 16 from b - 64, avail from b - 8, used elem 0 split. */
	drv_init_at(&d, 8, F_EVENT_IDX, b - 64, 0x3000 - 8, 0x7000 - 8);
	d.f.map_granule = 0x1000;
	CHECK_EQ(virtqueue_enable(&d.vq), 0);
	CHECK_EQ(d.vq.desc.sg.n, 2);
	CHECK_EQ(d.vq.avail.sg.n, 2);
	CHECK_EQ(d.vq.used.sg.n, 2);
	put_desc(&d, 3, BUF_GPA, 8, R | N, 4); /* before b */
	put_desc(&d, 4, BUF_GPA + 8, 9, W, 0); /* after b */
	for (unsigned i = 0; i < 8; i++)
		offer(&d, 3);
	for (unsigned i = 0; i < 8; i++) {
		CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
		CHECK_EQ(d.chain.count, 2);
		CHECK_EQ(d.chain.elem[1].len, 9);
		CHECK_EQ(virtqueue_push(&d.vq, d.chain.head, 9 + i), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		CHECK_EQ(USED_ID(&d, i), 3);
		CHECK_EQ(USED_LEN(&d, i), 9 + i); /* elem 0 straddles */
	}
	CHECK_EQ(USED_IDX(&d), 8);
	CHECK_EQ(AVAIL_EVENT(&d), 8);
	drv_fini(&d);

	/* An area needing more than GUEST_SG_MAX segments: -E2BIG. */
	drv_init_at(&d, 1024, 0, 0x10000, AVAIL_GPA, USED_GPA);
	d.f.map_granule = 0x200; /* 32 segments */
	CHECK_EQ(virtqueue_enable(&d.vq), -E2BIG);
	CHECK_EQ(d.f.maps_held, 0);
	drv_fini(&d);

	/* A core that split a 16-bit index in two: refused at enable. */
	drv_init_at(&d, 8, 0, DESC_GPA, AVAIL_GPA, 0x3000);
	d.f.map_granule = 0x1001; /* boundary at 0x3003 */
	CHECK_EQ(virtqueue_enable(&d.vq), -EINVAL);
	CHECK_EQ(d.f.maps_held, 0);
	drv_fini(&d);
}

static void
test_revocation(void)
{
	struct drv d;

	drv_init(&d, 8, 0);
	put_desc(&d, 0, BUF_GPA, 8, R, 0);
	CHECK_EQ(d.f.maps, 3);
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.f.maps, 3); /* mapped once */

	/* Revoked: mapped again before use, the state is kept. */
	d.f.map_epoch++;
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.f.maps, 6);
	CHECK_EQ(d.f.maps_held, 3);
	CHECK_EQ(d.vq.stats.remaps, 1);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), 0);
	CHECK_EQ(USED_IDX(&d), 2);

	/* The core is out of pins when mapping again: try later. */
	d.f.map_epoch++;
	d.f.fail_map = -EBUSY;
	offer(&d, 0);
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EBUSY);
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), -EBUSY);
	CHECK(virtqueue_should_notify(&d.vq)); /* when in doubt */
	CHECK_EQ(d.f.maps_held, 0);
	CHECK_EQ(virtqueue_error(&d.vq), VQ_ERR_NONE);
	d.f.fail_map = 0;
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), 0);
	CHECK_EQ(d.f.maps_held, 3);

	/* The ring is gone from the guest's memory map: broken. */
	d.f.map_epoch++;
	d.f.fail_map = -EFAULT;
	CHECK_EQ(virtqueue_push(&d.vq, 0, 0), -EIO);
	CHECK_EQ(virtqueue_error(&d.vq), VQ_ERR_FAULT);
	CHECK_EQ(d.f.maps_held, 0);
	d.f.fail_map = 0;
	CHECK_EQ(virtqueue_pop(&d.vq, &d.chain), -EIO);
	drv_fini(&d);
}

/* xorshift64: reproducible garbage. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random rings: descriptor tables, tables and avail entries full of
 * small random values (so that they often point at each other).  Every
 * pop ends in 0, -EAGAIN or -EIO, and a chain obeys its bounds.
 */
static void
test_random(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	unsigned ok = 0, broken = 0, bad = 0;
	struct drv d;

	for (unsigned round = 0; round < 2000; round++) {
		unsigned size = 1u << (rnd(&seed) % 6);

		drv_init(&d, size, F_INDIRECT | F_EVENT_IDX);
		for (unsigned i = 0; i < size; i++)
			put_desc(&d, i, rnd(&seed) % 4 ? BUF_GPA : rnd(&seed),
				 (uint32_t)(rnd(&seed) % 3 ? rnd(&seed) % 64 :
							     rnd(&seed) * 16),
				 (uint16_t)(rnd(&seed) & 7),
				 (uint16_t)(rnd(&seed) % (size + 2)));
		for (unsigned i = 0; i < 64; i++)
			put_desc_at(&d, TABLE_GPA + 16 * i, BUF_GPA,
				    (uint32_t)rnd(&seed),
				    (uint16_t)(rnd(&seed) % 8 ? rnd(&seed) & 3 :
								rnd(&seed) & 7),
				    (uint16_t)(rnd(&seed) % 66));
		for (unsigned i = 0; i < size; i++)
			if (rnd(&seed) % 2)
				put_desc(&d, i, TABLE_GPA,
					 (uint32_t)(16 * (rnd(&seed) % 66)),
					 (uint16_t)(I | (rnd(&seed) & 3)), 0);
		for (unsigned i = 0; i < size + 1; i++)
			put16(&d, d.avail + 4 + 2 * i,
			      (uint16_t)(rnd(&seed) % (size + 1)));
		set_avail_idx(&d, (uint16_t)(rnd(&seed) % (size + 2)));
		for (unsigned n = 0; n < size + 2; n++) {
			int r = virtqueue_pop(&d.vq, &d.chain);

			if (r == 0) {
				ok++;
				if (d.chain.count > VQ_CHAIN_MAX ||
				    d.chain.readable_count > d.chain.count ||
				    d.chain.head >= size)
					bad++;
				(void)virtqueue_push(&d.vq, d.chain.head, 1);
				(void)virtqueue_should_notify(&d.vq);
			} else if (r == -EIO) {
				broken++;
				break;
			} else if (r == -EAGAIN) {
				break;
			} else {
				bad++;
				break;
			}
		}
		drv_fini(&d);
	}
	CHECK_EQ(bad, 0);
	CHECK(ok > 0);
	CHECK(broken > 0);
	printf("random rings: %u chains, %u broken queues\n", ok, broken);
}

int
main(void)
{
	test_configure();
	test_single();
	test_read_write_chain();
	test_indirect();
	test_notify_flags();
	test_notify_event_idx();
	test_wrap();
	test_hostile_indices();
	test_hostile_chains();
	test_hostile_addresses();
	test_segments();
	test_revocation();
	test_random();
	return test_finish();
}
