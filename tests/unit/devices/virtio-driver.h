/*
 * The driver's side of a split virtqueue in the fake guest RAM of
 * tests/unit/devices/fake-services.h, for device tests: lay out the
 * rings, offer chains (direct, indirect, or raw hostile descriptors),
 * read back the used ring; and drive a struct virtio_dev through the
 * core's transport-side calls (virtio.h) as a transport would, with a
 * fake transport that counts the interrupts the core asks for.
 *
 * Guest memory is little-endian and single-threaded here, so plain byte
 * stores stand in for the driver's ordered ones.
 */
#ifndef IOREQD_TESTS_VIRTIO_DRIVER_H
#define IOREQD_TESTS_VIRTIO_DRIVER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/virtio.h"
#include "tests/unit/devices/fake-services.h"

static inline void
vdrv_put(struct fake_services *f, uint64_t gpa, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		f->mem[gpa + i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
vdrv_get(const struct fake_services *f, uint64_t gpa, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)f->mem[gpa + i] << (8 * i);
	return v;
}

/* One buffer of a chain the driver offers. */
struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable; /* device-writable */
};

struct vdrv_queue {
	struct fake_services *f;
	uint16_t size;
	uint64_t desc, avail, used; /* guest addresses of the three areas */
	uint16_t next_desc;	    /* next free descriptor (round robin) */
	uint16_t avail_idx;	    /* the driver's avail.idx */
	uint16_t used_seen;	    /* used entries taken back */
	/*
	 * Or-ed into every address the driver gives the device (rings,
	 * buffers, tables): VDRV_GRANT_BIT for grant DMA, else 0.
	 */
	uint64_t dma_bias;
};

/*
 * Rings for `size` entries at base (4 KiB aligned): descriptors, then
 * the available ring, the used ring on the next page boundary.  Zeroed.
 */
static inline void
vdrv_queue_init(struct vdrv_queue *q, struct fake_services *f, uint64_t base,
		uint16_t size)
{
	memset(q, 0, sizeof(*q));
	q->f = f;
	q->size = size;
	q->desc = base;
	q->avail = base + 16u * size;
	q->used = (q->avail + 6 + 2u * size + 0xfff) & ~0xfffull;
	memset(f->mem + base, 0, (size_t)(q->used + 6 + 8u * size - base));
}

/* Descriptor i, exactly as given (for hostile tables too). */
static inline void
vdrv_desc(struct vdrv_queue *q, uint16_t i, uint64_t addr, uint32_t len,
	  uint16_t flags, uint16_t next)
{
	uint64_t d = q->desc + 16u * i;

	vdrv_put(q->f, d, addr, 8);
	vdrv_put(q->f, d + 8, len, 4);
	vdrv_put(q->f, d + 12, flags, 2);
	vdrv_put(q->f, d + 14, next, 2);
}

/* Entry i of an indirect table at table_gpa. */
static inline void
vdrv_table_desc(struct fake_services *f, uint64_t table_gpa, uint16_t i,
		uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t d = table_gpa + 16u * i;

	vdrv_put(f, d, addr, 8);
	vdrv_put(f, d + 8, len, 4);
	vdrv_put(f, d + 12, flags, 2);
	vdrv_put(f, d + 14, next, 2);
}

/* Make the chain starting at head available (avail ring, then idx). */
static inline void
vdrv_avail(struct vdrv_queue *q, uint16_t head)
{
	vdrv_put(q->f, q->avail + 4 + 2u * (q->avail_idx % q->size), head, 2);
	q->avail_idx++;
	vdrv_put(q->f, q->avail + 2, q->avail_idx, 2);
}

/* Offer bufs[0..n) as one direct chain; returns its head. */
static inline uint16_t
vdrv_add(struct vdrv_queue *q, const struct vdrv_buf *bufs, unsigned n)
{
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = q->next_desc;
		uint16_t next = (uint16_t)((d + 1) % q->size);
		uint16_t flags =
			(uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
				   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

		vdrv_desc(q, d, bufs[i].gpa | q->dma_bias, bufs[i].len, flags,
			  next);
		q->next_desc = next;
	}
	vdrv_avail(q, head);
	return head;
}

/* One writable buffer. */
static inline uint16_t
vdrv_add_in(struct vdrv_queue *q, uint64_t gpa, uint32_t len)
{
	struct vdrv_buf b = { .gpa = gpa, .len = len, .writable = true };

	return vdrv_add(q, &b, 1);
}

/* One readable buffer. */
static inline uint16_t
vdrv_add_out(struct vdrv_queue *q, uint64_t gpa, uint32_t len)
{
	struct vdrv_buf b = { .gpa = gpa, .len = len, .writable = false };

	return vdrv_add(q, &b, 1);
}

/* Offer bufs[0..n) through an indirect table at table_gpa. */
static inline uint16_t
vdrv_add_indirect(struct vdrv_queue *q, uint64_t table_gpa,
		  const struct vdrv_buf *bufs, unsigned n)
{
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++)
		vdrv_table_desc(q->f, table_gpa, (uint16_t)i,
				bufs[i].gpa | q->dma_bias, bufs[i].len,
				(uint16_t)((bufs[i].writable ?
						    VIRTQ_DESC_F_WRITE :
						    0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				(uint16_t)(i + 1));
	vdrv_desc(q, head, table_gpa | q->dma_bias, 16u * n,
		  VIRTQ_DESC_F_INDIRECT, 0);
	q->next_desc = (uint16_t)((head + 1) % q->size);
	vdrv_avail(q, head);
	return head;
}

/* The device's used.idx. */
static inline uint16_t
vdrv_used_idx(const struct vdrv_queue *q)
{
	return (uint16_t)vdrv_get(q->f, q->used + 2, 2);
}

/* Take the next used element back: false when there is none. */
static inline bool
vdrv_get_used(struct vdrv_queue *q, uint16_t *ret_id, uint32_t *ret_len)
{
	uint64_t e;

	if (q->used_seen == vdrv_used_idx(q))
		return false;
	e = q->used + 4 + 8u * (q->used_seen % q->size);
	*ret_id = (uint16_t)vdrv_get(q->f, e, 4);
	*ret_len = (uint32_t)vdrv_get(q->f, e + 4, 4);
	q->used_seen++;
	return true;
}

/* A small deterministic generator for hostile-driver runs (xorshift64). */
static inline uint64_t
vdrv_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/*
 * A hostile driver's move on q: rewrite a few random descriptors (any
 * address around and beyond RAM, any length, any flags, any next), and
 * sometimes an indirect table at table_gpa, then make 0-3 random heads
 * available, or now and then move avail.idx anywhere.
 */
static inline void
vdrv_scribble(struct vdrv_queue *q, uint64_t *state, uint64_t table_gpa)
{
	uint64_t span = q->f->mem_size + 0x10000;
	unsigned n = (unsigned)(vdrv_rand(state) % 4);

	for (unsigned i = 0; i < 3; i++) {
		uint64_t r = vdrv_rand(state);
		uint16_t d = (uint16_t)(r % q->size);
		uint32_t len = (uint32_t)((r >> 16) % 0x2000);
		uint16_t flags = (uint16_t)((r >> 32) & 7);
		uint16_t next = (uint16_t)((r >> 40) % (q->size + 2u));

		if ((r >> 56) % 4 == 0)
			vdrv_desc(q, d, table_gpa, 16u * (1 + (len & 7)), flags,
				  next);
		else
			vdrv_desc(q, d, vdrv_rand(state) % span, len, flags,
				  next);
	}
	for (unsigned i = 0; i < 8; i++) {
		uint64_t r = vdrv_rand(state);

		vdrv_table_desc(q->f, table_gpa, (uint16_t)i,
				vdrv_rand(state) % span, (uint32_t)(r % 0x1000),
				(uint16_t)((r >> 16) & 7),
				(uint16_t)((r >> 24) % 10));
	}
	if (vdrv_rand(state) % 50 == 0) {
		q->avail_idx = (uint16_t)vdrv_rand(state);
		vdrv_put(q->f, q->avail + 2, q->avail_idx, 2);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		vdrv_avail(q, (uint16_t)(vdrv_rand(state) % (q->size + 1u)));
}

/*
 * A fake grant DMA layer over the fake services, for `dma: grant`: an
 * address is valid only with VDRV_GRANT_BIT set (Linux's xen-grant-dma
 * marks grant addresses with bit 63), and stands for the guest-physical
 * address without it.  A device that used the foreign services, or gave
 * a plain address, gets -EFAULT.  Only the DMA calls and the events are
 * there: a device must not raise interrupts through this table.
 */
#define VDRV_GRANT_BIT (1ull << 63)

struct vdrv_grant {
	struct device_services outer; /* the fake's, with grant_services */
	struct device_services dma;   /* what grant_services returns */
	const struct device_services *real;
	unsigned calls; /* DMA calls through the grant layer */
};

static struct vdrv_grant *vdrv_grant_current;

static inline int
vdrv_grant_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
	struct vdrv_grant *g = opaque;

	if (!(addr & VDRV_GRANT_BIT))
		return -EFAULT;
	g->calls++;
	return g->real->guest_read(g->real->opaque, addr & ~VDRV_GRANT_BIT, buf,
				   len);
}

static inline int
vdrv_grant_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct vdrv_grant *g = opaque;

	if (!(addr & VDRV_GRANT_BIT))
		return -EFAULT;
	g->calls++;
	return g->real->guest_write(g->real->opaque, addr & ~VDRV_GRANT_BIT,
				    buf, len);
}

static inline int
vdrv_grant_map(void *opaque, uint64_t addr, size_t len, bool writable,
	       struct guest_sg *sg)
{
	struct vdrv_grant *g = opaque;

	if (!(addr & VDRV_GRANT_BIT)) {
		memset(sg, 0, sizeof(*sg));
		return -EFAULT;
	}
	g->calls++;
	return g->real->guest_map(g->real->opaque, addr & ~VDRV_GRANT_BIT, len,
				  writable, sg);
}

static inline void
vdrv_grant_unmap(void *opaque, struct guest_sg *sg)
{
	struct vdrv_grant *g = opaque;

	g->real->guest_unmap(g->real->opaque, sg);
}

static inline const struct device_services *
vdrv_grant_services(void *opaque)
{
	(void)opaque;
	return vdrv_grant_current ? &vdrv_grant_current->dma : NULL;
}

/* g->outer: real's services with grant DMA behind grant_services. */
static inline void
vdrv_grant_init(struct vdrv_grant *g, const struct device_services *real)
{
	memset(g, 0, sizeof(*g));
	g->real = real;
	g->outer = *real;
	g->outer.grant_services = vdrv_grant_services;
	g->dma = (struct device_services){
		.opaque = g,
		.events = real->events,
		.guest_read = vdrv_grant_read,
		.guest_write = vdrv_grant_write,
		.guest_map = vdrv_grant_map,
		.guest_unmap = vdrv_grant_unmap,
	};
	vdrv_grant_current = g;
}

/* Interrupts the core asked the fake transport for. */
struct vdrv_transport {
	unsigned queue_irqs[VIRTIO_QUEUES_MAX];
	unsigned config_irqs;
};

static inline void
vdrv_transport_notify(void *ctx, enum virtio_irq kind, unsigned q)
{
	struct vdrv_transport *t = ctx;

	if (kind == VIRTIO_IRQ_CONFIG)
		t->config_irqs++;
	else if (q < VIRTIO_QUEUES_MAX)
		t->queue_irqs[q]++;
}

static const struct virtio_transport_ops vdrv_transport_ops = {
	.notify = vdrv_transport_notify,
};

static inline void
vdrv_attach(struct virtio_dev *vd, struct vdrv_transport *t)
{
	memset(t, 0, sizeof(*t));
	virtio_dev_set_transport(vd, &vdrv_transport_ops, t);
}

#define VDRV_S_NEGOTIATED                                   \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
	 VIRTIO_STATUS_FEATURES_OK)

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK: did it stick? */
static inline bool
vdrv_negotiate(struct virtio_dev *vd, uint64_t features)
{
	virtio_set_status(vd, 0);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, (uint32_t)features);
	virtio_set_driver_features(vd, 1, (uint32_t)(features >> 32));
	virtio_set_status(vd, VDRV_S_NEGOTIATED);
	return virtio_status(vd) & VIRTIO_STATUS_FEATURES_OK;
}

/* Program queue qi with q's layout and enable it: ready afterwards? */
static inline bool
vdrv_queue_setup(struct virtio_dev *vd, unsigned qi, const struct vdrv_queue *q)
{
	struct virtio_queue *vq = virtio_queue(vd, qi);

	if (!vq)
		return false;
	virtio_queue_set_size(vd, qi, q->size);
	virtio_queue_set_addr(vd, qi, &vq->desc_gpa, q->desc | q->dma_bias);
	virtio_queue_set_addr(vd, qi, &vq->driver_gpa, q->avail | q->dma_bias);
	virtio_queue_set_addr(vd, qi, &vq->device_gpa, q->used | q->dma_bias);
	virtio_queue_set_ready(vd, qi, true);
	return vq->ready;
}

static inline void
vdrv_driver_ok(struct virtio_dev *vd)
{
	virtio_set_status(vd, VDRV_S_NEGOTIATED | VIRTIO_STATUS_DRIVER_OK);
}

#define VDRV_F_V1 (1ull << VIRTIO_F_VERSION_1)

/*
 * The same driver through a real transport, reaching the device only by
 * its struct device ops: virtio-mmio registers, or virtio-pci's common
 * and notify structures found by walking the capability list.
 */
struct vdrv_bus {
	struct device *dev;
	bool pci;
	uint32_t common_off;  /* pci: BAR0 offset of the common config */
	uint32_t notify_off;  /* pci: ... of the notify structure */
	uint32_t notify_mult; /* pci: notify_off_multiplier */
	uint32_t device_off;  /* pci: ... of the device config */
};

/* virtio-mmio registers (4.2.2) and common config fields (4.1.4.3). */
enum {
	VDRV_MMIO_DEVICE_ID = 0x008,
	VDRV_MMIO_DRV_FEAT = 0x020,
	VDRV_MMIO_DRV_FEAT_SEL = 0x024,
	VDRV_MMIO_QUEUE_SEL = 0x030,
	VDRV_MMIO_QUEUE_NUM = 0x038,
	VDRV_MMIO_QUEUE_READY = 0x044,
	VDRV_MMIO_QUEUE_NOTIFY = 0x050,
	VDRV_MMIO_STATUS = 0x070,
	VDRV_MMIO_QUEUE_DESC = 0x080,
	VDRV_MMIO_QUEUE_DRIVER = 0x090,
	VDRV_MMIO_QUEUE_DEVICE = 0x0a0,
	VDRV_MMIO_CONFIG = 0x100,
	VDRV_PCI_GFSELECT = 0x08,
	VDRV_PCI_GF = 0x0c,
	VDRV_PCI_STATUS = 0x14,
	VDRV_PCI_Q_SELECT = 0x16,
	VDRV_PCI_Q_SIZE = 0x18,
	VDRV_PCI_Q_ENABLE = 0x1c,
	VDRV_PCI_Q_NOFF = 0x1e,
	VDRV_PCI_Q_DESC = 0x20,
	VDRV_PCI_Q_DRIVER = 0x28,
	VDRV_PCI_Q_DEVICE = 0x30,
};

static inline uint64_t
vdrv_bus_rd(struct vdrv_bus *b, uint64_t off, unsigned size)
{
	return b->dev->ops->read(b->dev, 0, off, size);
}

static inline void
vdrv_bus_wr(struct vdrv_bus *b, uint64_t off, unsigned size, uint64_t v)
{
	b->dev->ops->write(b->dev, 0, off, size, v);
}

/* Find the structures (pci) as Linux's virtio_pci_find_capability. */
static inline void
vdrv_bus_init(struct vdrv_bus *b, struct device *dev)
{
	unsigned ptr;

	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->pci = dev->is_pci;
	if (!b->pci)
		return;
	ptr = dev->ops->config_read(dev, 0x34, 1) & ~3u;
	for (unsigned guard = 0; ptr && guard < 48; guard++) {
		unsigned id = dev->ops->config_read(dev, ptr, 1);
		unsigned type = dev->ops->config_read(dev, ptr + 3, 1);
		uint32_t off = dev->ops->config_read(dev, ptr + 8, 4);

		if (id == 0x09 && type == 1 && !b->common_off)
			b->common_off = off;
		if (id == 0x09 && type == 2 && !b->notify_off) {
			b->notify_off = off;
			b->notify_mult = dev->ops->config_read(dev, ptr + 16,
							       4);
		}
		if (id == 0x09 && type == 4 && !b->device_off)
			b->device_off = off;
		ptr = dev->ops->config_read(dev, ptr + 1, 1) & ~3u;
	}
}

static inline uint32_t
vdrv_bus_device_id(struct vdrv_bus *b)
{
	if (b->pci)
		return b->dev->ops->config_read(b->dev, 0x02, 2) - 0x1040;
	return (uint32_t)vdrv_bus_rd(b, VDRV_MMIO_DEVICE_ID, 4);
}

static inline uint8_t
vdrv_bus_status(struct vdrv_bus *b)
{
	if (b->pci)
		return (uint8_t)vdrv_bus_rd(b, b->common_off + VDRV_PCI_STATUS,
					    1);
	return (uint8_t)vdrv_bus_rd(b, VDRV_MMIO_STATUS, 4);
}

static inline void
vdrv_bus_set_status(struct vdrv_bus *b, uint8_t status)
{
	if (b->pci)
		vdrv_bus_wr(b, b->common_off + VDRV_PCI_STATUS, 1, status);
	else
		vdrv_bus_wr(b, VDRV_MMIO_STATUS, 4, status);
}

static inline void
vdrv_bus_driver_features(struct vdrv_bus *b, unsigned word, uint32_t v)
{
	if (b->pci) {
		vdrv_bus_wr(b, b->common_off + VDRV_PCI_GFSELECT, 4, word);
		vdrv_bus_wr(b, b->common_off + VDRV_PCI_GF, 4, v);
	} else {
		vdrv_bus_wr(b, VDRV_MMIO_DRV_FEAT_SEL, 4, word);
		vdrv_bus_wr(b, VDRV_MMIO_DRV_FEAT, 4, v);
	}
}

static inline bool
vdrv_bus_negotiate(struct vdrv_bus *b, uint64_t features)
{
	vdrv_bus_set_status(b, 0);
	vdrv_bus_set_status(b, VIRTIO_STATUS_ACKNOWLEDGE);
	vdrv_bus_set_status(b,
			    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_bus_driver_features(b, 0, (uint32_t)features);
	vdrv_bus_driver_features(b, 1, (uint32_t)(features >> 32));
	vdrv_bus_set_status(b, VDRV_S_NEGOTIATED);
	return vdrv_bus_status(b) & VIRTIO_STATUS_FEATURES_OK;
}

/* 64-bit address as two 32-bit halves, low first. */
static inline void
vdrv_bus_wr64(struct vdrv_bus *b, uint64_t off, uint64_t v)
{
	vdrv_bus_wr(b, off, 4, (uint32_t)v);
	vdrv_bus_wr(b, off + 4, 4, (uint32_t)(v >> 32));
}

static inline bool
vdrv_bus_queue_setup(struct vdrv_bus *b, unsigned qi,
		     const struct vdrv_queue *q)
{
	uint64_t c = b->common_off;

	if (b->pci) {
		vdrv_bus_wr(b, c + VDRV_PCI_Q_SELECT, 2, qi);
		vdrv_bus_wr(b, c + VDRV_PCI_Q_SIZE, 2, q->size);
		vdrv_bus_wr64(b, c + VDRV_PCI_Q_DESC, q->desc | q->dma_bias);
		vdrv_bus_wr64(b, c + VDRV_PCI_Q_DRIVER, q->avail | q->dma_bias);
		vdrv_bus_wr64(b, c + VDRV_PCI_Q_DEVICE, q->used | q->dma_bias);
		vdrv_bus_wr(b, c + VDRV_PCI_Q_ENABLE, 2, 1);
		return vdrv_bus_rd(b, c + VDRV_PCI_Q_ENABLE, 2) == 1;
	}
	vdrv_bus_wr(b, VDRV_MMIO_QUEUE_SEL, 4, qi);
	vdrv_bus_wr(b, VDRV_MMIO_QUEUE_NUM, 4, q->size);
	vdrv_bus_wr64(b, VDRV_MMIO_QUEUE_DESC, q->desc | q->dma_bias);
	vdrv_bus_wr64(b, VDRV_MMIO_QUEUE_DRIVER, q->avail | q->dma_bias);
	vdrv_bus_wr64(b, VDRV_MMIO_QUEUE_DEVICE, q->used | q->dma_bias);
	vdrv_bus_wr(b, VDRV_MMIO_QUEUE_READY, 4, 1);
	return vdrv_bus_rd(b, VDRV_MMIO_QUEUE_READY, 4) == 1;
}

static inline void
vdrv_bus_driver_ok(struct vdrv_bus *b)
{
	vdrv_bus_set_status(b, VDRV_S_NEGOTIATED | VIRTIO_STATUS_DRIVER_OK);
}

/* The driver's notification of queue qi. */
static inline void
vdrv_bus_kick(struct vdrv_bus *b, unsigned qi)
{
	uint64_t off;

	if (!b->pci) {
		vdrv_bus_wr(b, VDRV_MMIO_QUEUE_NOTIFY, 4, qi);
		return;
	}
	vdrv_bus_wr(b, b->common_off + VDRV_PCI_Q_SELECT, 2, qi);
	off = vdrv_bus_rd(b, b->common_off + VDRV_PCI_Q_NOFF, 2);
	vdrv_bus_wr(b, b->notify_off + off * b->notify_mult, 2, qi);
}

/* Device configuration at offset. */
static inline uint32_t
vdrv_bus_config(struct vdrv_bus *b, unsigned offset, unsigned size)
{
	if (b->pci)
		return (uint32_t)vdrv_bus_rd(b, b->device_off + offset, size);
	return (uint32_t)vdrv_bus_rd(b, VDRV_MMIO_CONFIG + offset, size);
}

#endif
