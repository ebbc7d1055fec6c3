/*
 * The virtio-mmio transport (devices/virtio/virtio-mmio.c) as a guest
 * driver sees it: a toy device (2 queues, 8 configuration bytes of which
 * byte 4 is writable) behind the transport, on fake services with guest
 * RAM, accessed only through the device's read and write ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtio-mmio.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"

#define MEM_SIZE  (1u << 20)
#define BASE	  0xfe000000ull
#define DESC_GPA  0x10000u
#define AVAIL_GPA 0x11000u
#define USED_GPA  0x12000u
#define BUF_GPA	  0x20000u
#define QSIZE	  4u
#define TOY_F_X	  3 /* a device-specific feature bit */

/* Register offsets, as a driver writes them down from the spec. */
enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c,
	R_DEV_FEAT = 0x010,
	R_DEV_FEAT_SEL = 0x014,
	R_DRV_FEAT = 0x020,
	R_DRV_FEAT_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060,
	R_INT_ACK = 0x064,
	R_STATUS = 0x070,
	R_DESC_LO = 0x080,
	R_DESC_HI = 0x084,
	R_DRIVER_LO = 0x090,
	R_DRIVER_HI = 0x094,
	R_DEVICE_LO = 0x0a0,
	R_DEVICE_HI = 0x0a4,
	R_SHM_SEL = 0x0ac,
	R_SHM_LEN_LO = 0x0b0,
	R_SHM_LEN_HI = 0x0b4,
	R_SHM_BASE_LO = 0x0b8,
	R_SHM_BASE_HI = 0x0bc,
	R_QUEUE_RESET = 0x0c0,
	R_CONFIG_GEN = 0x0fc,
	R_CONFIG = 0x100,
};

#define S_ACK	      VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRIVER      VIRTIO_STATUS_DRIVER
#define S_FEATURES_OK VIRTIO_STATUS_FEATURES_OK
#define S_DRIVER_OK   VIRTIO_STATUS_DRIVER_OK
#define S_NEGOTIATED  (S_ACK | S_DRIVER | S_FEATURES_OK)

struct toy {
	struct virtio_dev vd;
	uint8_t config[8];
	struct vq_chain chain;
};

/* What the toy did; outlives it (the transport frees it). */
struct rec {
	unsigned notified[2]; /* queue_notify calls */
	unsigned pushed[2];   /* chains returned */
	unsigned stops, resets, destroyed, config_writes;
	bool refuse_x;
};

static const struct device_type toy_type = { .name = "virtio-toy" };
static struct fake_services f;
static struct rec rec;
static struct toy *toy;
static struct device *dev;

static bool
toy_features_ok(struct virtio_dev *vd, uint64_t features)
{
	(void)vd;
	return !(rec.refuse_x && (features & (1ull << TOY_F_X)));
}

/* Return every chain at once, then ask for the interrupt. */
static void
toy_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct toy *t = (struct toy *)vd;

	rec.notified[q]++;
	while (virtqueue_pop(virtio_vq(vd, q), &t->chain) == 0)
		if (virtqueue_push(virtio_vq(vd, q), t->chain.head, 0) == 0)
			rec.pushed[q]++;
	virtio_notify_used(vd, q);
}

static void
toy_queue_stop(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	(void)q;
	rec.stops++;
}

static void
toy_reset(struct virtio_dev *vd)
{
	(void)vd;
	rec.resets++;
}

static void
toy_config_write(struct virtio_dev *vd, unsigned offset, unsigned size,
		 uint32_t value)
{
	rec.config_writes++;
	if (offset == 4 && size == 1)
		vd->config[4] = (uint8_t)value;
}

static void
toy_destroy(struct virtio_dev *vd)
{
	rec.destroyed++;
	free(vd);
}

static const struct virtio_dev_ops toy_ops = {
	.features_ok = toy_features_ok,
	.queue_notify = toy_queue_notify,
	.queue_stop = toy_queue_stop,
	.reset = toy_reset,
	.config_write = toy_config_write,
	.destroy = toy_destroy,
};

static struct toy *
toy_new(void)
{
	static const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct toy *t = calloc(1, sizeof(*t));
	struct virtio_dev_params p = {
		.id = "toy",
		.device_id = 42,
		.features = 1ull << TOY_F_X,
		.num_queues = 2,
		.queue_size_max = 8,
		.config = NULL,
		.config_len = sizeof(bytes),
	};

	if (!t)
		abort();
	memcpy(t->config, bytes, sizeof(bytes));
	p.config = t->config;
	CHECK_EQ(virtio_dev_init(&t->vd, &toy_ops, &f.svc, &p), 0);
	return t;
}

static struct cfg_device
mmio_cfg(unsigned irq)
{
	struct cfg_device c = {
		.keys = CFG_KEY_MMIO | CFG_KEY_IRQ,
		.mmio = BASE,
		.irq = irq,
	};

	(void)snprintf(c.id, sizeof(c.id), "vm0");
	return c;
}

static void
setup(unsigned irq)
{
	struct cfg_device c = mmio_cfg(irq);

	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	toy = toy_new();
	dev = NULL;
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &toy->vd, &dev), 0);
	if (!dev)
		abort();
}

static void
teardown(void)
{
	dev->ops->destroy(dev);
	CHECK_EQ(rec.destroyed, 1);
	CHECK_EQ(f.maps_held, 0);
	fake_services_fini(&f);
}

static uint64_t
rd_n(uint64_t offset, unsigned size)
{
	return dev->ops->read(dev, 0, offset, size);
}

static void
wr_n(uint64_t offset, unsigned size, uint64_t value)
{
	dev->ops->write(dev, 0, offset, size, value);
}

static uint32_t
rd(uint64_t offset)
{
	return (uint32_t)rd_n(offset, 4);
}

static void
wr(uint64_t offset, uint32_t value)
{
	wr_n(offset, 4, value);
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK: did it stick? */
static bool
negotiate(uint64_t features)
{
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, (uint32_t)features);
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, (uint32_t)(features >> 32));
	wr(R_STATUS, S_NEGOTIATED);
	return rd(R_STATUS) & S_FEATURES_OK;
}

#define V1 (1ull << VIRTIO_F_VERSION_1)

/* Queue q at size QSIZE, rings at q * 0x3000 past the bases, ready. */
static void
program_queue(unsigned q)
{
	wr(R_QUEUE_SEL, q);
	wr(R_QUEUE_NUM, QSIZE);
	wr(R_DESC_LO, DESC_GPA + 0x3000 * q);
	wr(R_DESC_HI, 0);
	wr(R_DRIVER_LO, AVAIL_GPA + 0x3000 * q);
	wr(R_DRIVER_HI, 0);
	wr(R_DEVICE_LO, USED_GPA + 0x3000 * q);
	wr(R_DEVICE_HI, 0);
	wr(R_QUEUE_READY, 1);
}

static void
put16(uint64_t gpa, uint16_t v)
{
	f.mem[gpa] = (uint8_t)v;
	f.mem[gpa + 1] = (uint8_t)(v >> 8);
}

static uint16_t
get16(uint64_t gpa)
{
	return (uint16_t)(f.mem[gpa] | f.mem[gpa + 1] << 8);
}

/* The driver makes one device-writable buffer available on queue q. */
static void
make_available(unsigned q)
{
	uint64_t desc = DESC_GPA + 0x3000 * q, avail = AVAIL_GPA + 0x3000 * q;
	uint16_t idx = get16(avail + 2);
	unsigned slot = idx % QSIZE;
	uint64_t d = desc + 16 * slot, buf = BUF_GPA + 0x100 * slot;

	for (unsigned i = 0; i < 8; i++)
		f.mem[d + i] = (uint8_t)(buf >> (8 * i));
	f.mem[d + 8] = 64; /* len */
	put16(d + 12, VIRTQ_DESC_F_WRITE);
	put16(avail + 4 + 2 * slot, (uint16_t)slot);
	put16(avail + 2, (uint16_t)(idx + 1));
}

static void
test_create(void)
{
	struct cfg_device c = mmio_cfg(5);
	struct device *d = NULL;
	struct toy *t;

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	t = toy_new();
	c.keys = CFG_KEY_MMIO;
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, &d),
		 -EINVAL);
	c = mmio_cfg(5);
	c.keys = CFG_KEY_IRQ;
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, &d),
		 -EINVAL);
	c = mmio_cfg(VIRTIO_MMIO_IRQ_MAX + 1);
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, &d),
		 -EINVAL);
	c = mmio_cfg(5);
	c.mmio = UINT64_MAX - 0xff; /* the window would wrap */
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, &d),
		 -EINVAL);
	c = mmio_cfg(5);
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, NULL),
		 -EINVAL);
	/* Failures leave vd alone: no transport, still ours to free. */
	CHECK(d == NULL);
	CHECK(t->vd.transport == NULL);
	CHECK_EQ(virtio_mmio_create(&c, &toy_type, &f.svc, &t->vd, &d), 0);
	CHECK(d != NULL);
	if (d) {
		CHECK_EQ(d->region_count, 1);
		CHECK_EQ(d->regions[0].space, BUS_SPACE_MMIO);
		CHECK_EQ(d->regions[0].base, BASE);
		CHECK_EQ(d->regions[0].size, 0x200);
		CHECK(strcmp(d->id, "vm0") == 0);
		CHECK(d->type == &toy_type);
		d->ops->destroy(d);
	}
	CHECK_EQ(rec.destroyed, 1);
	CHECK_EQ(rec.resets, 1); /* virtio_dev_fini before the free */
	fake_services_fini(&f);
	memset(&rec, 0, sizeof(rec));
}

static void
test_reset_values(void)
{
	setup(5);
	CHECK_EQ(rd(R_MAGIC), 0x74726976);
	CHECK_EQ(rd(R_VERSION), 2);
	CHECK_EQ(rd(R_DEVICE_ID), 42);
	CHECK_EQ(rd(R_VENDOR_ID), 0x554d4551);
	/* Word 0: the toy's bit and both ring features; word 1: V1. */
	CHECK_EQ(rd(R_DEV_FEAT), (1u << TOY_F_X) |
					 (1u << VIRTIO_F_INDIRECT_DESC) |
					 (1u << VIRTIO_F_EVENT_IDX));
	wr(R_DEV_FEAT_SEL, 1);
	CHECK_EQ(rd(R_DEV_FEAT), 1);
	wr(R_DEV_FEAT_SEL, 2);
	CHECK_EQ(rd(R_DEV_FEAT), 0);
	wr(R_DEV_FEAT_SEL, 0xffffffffu);
	CHECK_EQ(rd(R_DEV_FEAT), 0);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 8); /* QueueSel 0 */
	wr(R_QUEUE_SEL, 1);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 8);
	wr(R_QUEUE_SEL, 2);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 0); /* no such queue */
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	wr(R_QUEUE_SEL, 0);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(rd(R_CONFIG_GEN), 0);
	/* No shared memory regions, whatever SHMSel says. */
	CHECK_EQ(rd(R_SHM_LEN_LO), 0xffffffffu);
	CHECK_EQ(rd(R_SHM_LEN_HI), 0xffffffffu);
	CHECK_EQ(rd(R_SHM_BASE_LO), 0xffffffffu);
	CHECK_EQ(rd(R_SHM_BASE_HI), 0xffffffffu);
	wr(R_SHM_SEL, 3);
	CHECK_EQ(rd(R_SHM_LEN_LO), 0xffffffffu);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	CHECK_EQ(f.isa_calls[5], 0); /* the line was never touched */
	teardown();
}

/* Write-only registers, reserved offsets: 0 and counted; nothing moves. */
static void
test_wrong_direction(void)
{
	static const unsigned write_only[] = {
		R_DEV_FEAT_SEL, R_DRV_FEAT,	R_DRV_FEAT_SEL, R_QUEUE_SEL,
		R_QUEUE_NUM,	R_QUEUE_NOTIFY, R_INT_ACK,	R_DESC_LO,
		R_DESC_HI,	R_DRIVER_LO,	R_DRIVER_HI,	R_DEVICE_LO,
		R_DEVICE_HI,	R_SHM_SEL,
	};
	static const unsigned reserved[] = { 0x018, 0x028,	   0x03c, 0x040,
					     0x0a8, R_QUEUE_RESET, 0x0f8 };
	uint64_t bad;

	setup(5);
	wr(R_DEV_FEAT_SEL, 1);
	for (size_t i = 0; i < sizeof(write_only) / sizeof(write_only[0]); i++)
		CHECK_EQ(rd(write_only[i]), 0);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		CHECK_EQ(rd(reserved[i]), 0);
	CHECK_EQ(dev->stats.bad_accesses,
		 sizeof(write_only) / sizeof(write_only[0]) +
			 sizeof(reserved) / sizeof(reserved[0]));
	/* Writes to read-only registers and reserved offsets are dropped. */
	bad = dev->stats.bad_accesses;
	wr(R_MAGIC, 0);
	wr(R_DEV_FEAT, 0);
	wr(R_QUEUE_NUM_MAX, 2);
	wr(R_INT_STATUS, 3);
	wr(R_CONFIG_GEN, 9);
	wr(R_SHM_LEN_LO, 0);
	wr(R_QUEUE_RESET, 1);
	CHECK_EQ(dev->stats.bad_accesses, bad + 7);
	CHECK_EQ(rd(R_MAGIC), 0x74726976);
	CHECK_EQ(rd(R_DEV_FEAT), 1); /* the selector survived */
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 8);
	CHECK_EQ(rd(R_CONFIG_GEN), 0);
	teardown();
}

static void
test_widths(void)
{
	uint64_t bad;

	setup(5);
	/* Registers only at 32 bits, aligned. */
	CHECK_EQ(rd_n(R_MAGIC, 1), 0);
	CHECK_EQ(rd_n(R_MAGIC, 2), 0);
	CHECK_EQ(rd_n(R_MAGIC, 8), 0);
	CHECK_EQ(rd_n(R_MAGIC + 1, 4), 0);
	CHECK_EQ(rd_n(R_VERSION + 2, 2), 0);
	CHECK_EQ(dev->stats.bad_accesses, 5);
	wr_n(R_STATUS, 1, S_ACK);
	wr_n(R_STATUS, 2, S_ACK);
	wr_n(R_STATUS, 8, S_ACK);
	wr_n(R_STATUS + 1, 4, S_ACK);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(dev->stats.bad_accesses, 9);
	/* Status beyond its 8 bits: dropped, not truncated. */
	wr(R_STATUS, 0x100 | S_ACK);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(dev->stats.bad_accesses, 10);

	/* Configuration: 1, 2, 4 and 8 bytes, little-endian. */
	bad = dev->stats.bad_accesses;
	CHECK_EQ(rd_n(R_CONFIG, 1), 1);
	CHECK_EQ(rd_n(R_CONFIG + 1, 1), 2);
	CHECK_EQ(rd_n(R_CONFIG + 2, 2), 0x0403);
	CHECK_EQ(rd_n(R_CONFIG + 4, 4), 0x08070605);
	CHECK_EQ(rd_n(R_CONFIG, 8), 0x0807060504030201ull);
	/* Past the device's 8 bytes: all-ones of the width. */
	CHECK_EQ(rd_n(R_CONFIG + 8, 1), 0xff);
	CHECK_EQ(rd_n(R_CONFIG + 6, 4), 0xffffffffu);
	CHECK_EQ(rd_n(R_CONFIG + 0xfc, 4), 0xffffffffu);
	CHECK_EQ(rd_n(R_CONFIG + 4, 8), 0xffffffff08070605ull);
	CHECK_EQ(dev->stats.bad_accesses, bad);
	/* Writes go to the device, which takes byte 4 only. */
	wr_n(R_CONFIG + 4, 1, 0xaa);
	wr_n(R_CONFIG, 1, 0xbb);
	CHECK_EQ(rd_n(R_CONFIG, 8), 0x080706aa04030201ull);
	CHECK_EQ(rec.config_writes, 2);
	wr_n(R_CONFIG, 8, 0); /* two 4-byte halves */
	CHECK_EQ(rec.config_writes, 4);
	wr_n(R_CONFIG + 8, 4, 0); /* outside: not passed on */
	CHECK_EQ(rec.config_writes, 4);
	/* Outside the window (the bus never does this): all-ones. */
	CHECK_EQ(rd_n(0x200, 4), 0xffffffffu);
	CHECK_EQ(dev->ops->read(dev, 1, 0, 4), 0xffffffffu);
	CHECK_EQ(dev->stats.bad_accesses, bad + 2);
	teardown();
}

static void
test_features(void)
{
	setup(5);
	/* Without VERSION_1: FEATURES_OK does not stick. */
	CHECK(!negotiate(1ull << TOY_F_X));
	CHECK_EQ(rd(R_STATUS), S_ACK | S_DRIVER);
	/* A bit never offered. */
	CHECK(!negotiate(V1 | (1ull << 20)));
	/* The device's own veto. */
	rec.refuse_x = true;
	CHECK(!negotiate(V1 | (1ull << TOY_F_X)));
	rec.refuse_x = false;
	/* Accepted; the driver's words are what it wrote. */
	CHECK(negotiate(V1 | (1ull << TOY_F_X)));
	CHECK_EQ(rd(R_STATUS), S_NEGOTIATED);
	CHECK_EQ(virtio_driver_features(&toy->vd, 0), 1u << TOY_F_X);
	CHECK_EQ(virtio_driver_features(&toy->vd, 1), 1);
	/* Frozen after FEATURES_OK. */
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, 0);
	CHECK_EQ(virtio_driver_features(&toy->vd, 0), 1u << TOY_F_X);
	/* Status bits cannot be cleared without a reset. */
	wr(R_STATUS, S_ACK);
	CHECK_EQ(rd(R_STATUS), S_NEGOTIATED);
	teardown();
}

static void
test_queue_programming(void)
{
	struct virtio_queue *vq0, *vq1;
	uint64_t bad;

	setup(5);
	vq0 = virtio_queue(&toy->vd, 0);
	vq1 = virtio_queue(&toy->vd, 1);
	/* Ready before FEATURES_OK: refused. */
	program_queue(0);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK(negotiate(V1));
	/* 64-bit addresses, half at a time, per selected queue. */
	wr(R_QUEUE_SEL, 1);
	wr(R_DESC_HI, 0x12);
	wr(R_DESC_LO, 0x34567000);
	wr(R_DRIVER_LO, 0x1000);
	wr(R_DRIVER_HI, 0xab);
	wr(R_DEVICE_HI, 0xffffffffu);
	wr(R_DEVICE_LO, 0x2000);
	CHECK_EQ(vq1->desc_gpa, 0x1234567000ull);
	CHECK_EQ(vq1->driver_gpa, 0xab00001000ull);
	CHECK_EQ(vq1->device_gpa, 0xffffffff00002000ull);
	CHECK_EQ(vq0->desc_gpa, 0);
	/* QueueNum: a power of two up to QueueNumMax, 16 bits. */
	wr(R_QUEUE_NUM, 3);
	wr(R_QUEUE_NUM, 16);
	wr(R_QUEUE_NUM, 0x10004); /* 4 if it were truncated */
	CHECK_EQ(vq1->size, 8);
	wr(R_QUEUE_NUM, 2);
	CHECK_EQ(vq1->size, 2);
	/* QueueReady takes 0 or 1 only. */
	program_queue(0);
	CHECK_EQ(rd(R_QUEUE_READY), 1);
	CHECK(vq0->ready);
	CHECK_EQ(vq0->size, QSIZE);
	CHECK_EQ(f.maps_held, 3);
	wr(R_QUEUE_READY, 2);
	CHECK_EQ(rd(R_QUEUE_READY), 1);
	/* A ready queue's fields stay as they are. */
	bad = toy->vd.stats.bad_queue_writes;
	wr(R_QUEUE_NUM, 2);
	wr(R_DESC_LO, 0x5000);
	wr(R_DESC_HI, 1);
	CHECK_EQ(vq0->size, QSIZE);
	CHECK_EQ(vq0->desc_gpa, DESC_GPA);
	CHECK_EQ(toy->vd.stats.bad_queue_writes, bad + 3);
	/* A queue that does not exist: reads 0, writes go nowhere. */
	wr(R_QUEUE_SEL, 2);
	wr(R_QUEUE_NUM, 4);
	wr(R_DESC_LO, 0x5000);
	wr(R_QUEUE_READY, 1);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 0);
	CHECK_EQ(vq1->desc_gpa, 0x1234567000ull);
	teardown();
}

/* Used buffers on queue 0: the line goes up, InterruptACK brings it down. */
static void
test_notify_and_interrupt(void)
{
	setup(5);
	CHECK(negotiate(V1));
	program_queue(0);
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f); /* DRIVER_OK serves once: nothing yet */
	CHECK_EQ(rec.notified[0], 1);
	CHECK_EQ(rec.pushed[0], 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.isa_level[5]);

	make_available(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK_EQ(rec.notified[0], 1); /* answered first, served after */
	fake_services_answered(&f);
	CHECK_EQ(rec.notified[0], 2);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK_EQ(get16(USED_GPA + 2), 1); /* used.idx */
	CHECK_EQ(rd(R_INT_STATUS), 1);
	CHECK(f.isa_level[5]);
	CHECK_EQ(f.isa_raises[5], 1);
	CHECK_EQ(dev->stats.irq_raises, 1);

	/* More used buffers while the line is up: no new edge. */
	unsigned calls = f.isa_calls[5];
	make_available(0);
	wr(R_QUEUE_NOTIFY, 0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 2);
	CHECK_EQ(f.isa_calls[5], calls);
	/* ACK of a bit that is not set changes nothing. */
	wr(R_INT_ACK, 2);
	CHECK_EQ(rd(R_INT_STATUS), 1);
	CHECK(f.isa_level[5]);
	wr(R_INT_ACK, 1);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.isa_level[5]);
	CHECK_EQ(f.isa_calls[5], calls + 1);
	CHECK_EQ(f.line_calls, 0); /* an ISA line: never set_irq_level */

	/* A notify naming no queue is answered and forgotten. */
	wr(R_QUEUE_NOTIFY, 7);
	wr(R_QUEUE_NOTIFY, 0xffffffffu);
	fake_services_answered(&f);
	CHECK_EQ(rec.notified[0], 3);
	CHECK_EQ(rec.notified[1], 0);

	/* QueueReady 0 stops the queue: the device is told, kicks wait. */
	wr(R_QUEUE_SEL, 0);
	wr(R_QUEUE_READY, 0);
	CHECK_EQ(rec.stops, 1);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(f.maps_held, 0);
	make_available(0);
	wr(R_QUEUE_NOTIFY, 0);
	fake_services_answered(&f);
	CHECK_EQ(rec.notified[0], 3);
	CHECK_EQ(rec.pushed[0], 2);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	/* Its fields can be written again. */
	wr(R_QUEUE_NUM, 2);
	CHECK_EQ(virtio_queue(&toy->vd, 0)->size, 2);
	teardown();
}

/* irq 40, an Arm SPI: through set_irq_level, never an ISA line. */
static void
test_irq_level_line(void)
{
	setup(40);
	CHECK(negotiate(V1));
	program_queue(1);
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	make_available(1);
	wr(R_QUEUE_NOTIFY, 1);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[1], 1);
	CHECK_EQ(rd(R_INT_STATUS), 1);
	CHECK(f.line_level[40]);
	CHECK_EQ(f.line_calls, 1);
	wr(R_INT_ACK, 0xffffffffu);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.line_level[40]);
	CHECK_EQ(f.line_calls, 2);
	for (unsigned i = 0; i < FAKE_ISA_IRQS; i++)
		CHECK_EQ(f.isa_calls[i], 0);
	teardown();
}

static void
test_config_generation(void)
{
	setup(5);
	/* Before DRIVER_OK: a new generation, no interrupt. */
	virtio_config_changed(&toy->vd);
	CHECK_EQ(rd(R_CONFIG_GEN), 1);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.isa_level[5]);
	CHECK(negotiate(V1));
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	virtio_config_changed(&toy->vd);
	CHECK_EQ(rd(R_CONFIG_GEN), 2);
	CHECK_EQ(rd(R_INT_STATUS), 2);
	CHECK(f.isa_level[5]);
	wr(R_INT_ACK, 1);
	CHECK(f.isa_level[5]);
	wr(R_INT_ACK, 2);
	CHECK(!f.isa_level[5]);
	/* A ring that cannot be mapped: NEEDS_RESET and a config change. */
	wr(R_QUEUE_SEL, 1);
	wr(R_DESC_LO, DESC_GPA);
	wr(R_DRIVER_LO, AVAIL_GPA);
	wr(R_DEVICE_LO, MEM_SIZE + 0x1000);
	wr(R_QUEUE_READY, 1);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK(rd(R_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(rd(R_INT_STATUS), 2);
	CHECK(f.isa_level[5]);
	teardown();
}

static void
test_reset(void)
{
	unsigned resets;

	setup(5);
	CHECK(negotiate(V1));
	program_queue(0);
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	virtio_config_changed(&toy->vd);
	CHECK(f.isa_level[5]);
	wr(R_DEV_FEAT_SEL, 1);
	/* Status 0: the device, the queues, InterruptStatus and the line. */
	resets = rec.resets;
	wr(R_STATUS, 0);
	CHECK_EQ(rec.resets, resets + 1);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.isa_level[5]);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 8);
	CHECK_EQ(virtio_queue(&toy->vd, 0)->desc_gpa, 0);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(rd(R_DEV_FEAT) & (1u << TOY_F_X), 1u << TOY_F_X);

	/* The transport's own reset does the same. */
	CHECK(negotiate(V1));
	program_queue(1);
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	virtio_config_changed(&toy->vd);
	CHECK(f.isa_level[5]);
	resets = rec.resets;
	dev->ops->reset(dev);
	CHECK_EQ(rec.resets, resets + 1);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK(!f.isa_level[5]);
	wr(R_QUEUE_SEL, 1);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(f.maps_held, 0);
	/* The device works again after it. */
	CHECK(negotiate(V1));
	program_queue(0);
	CHECK_EQ(rd(R_QUEUE_READY), 1);
	teardown();
}

struct stats_seen {
	uint64_t kicks, irq_errors;
	unsigned names;
};

static void
stats_emit(void *ctx, const char *name, uint64_t value)
{
	struct stats_seen *s = ctx;

	s->names++;
	if (strcmp(name, "virtio_kicks") == 0)
		s->kicks = value;
	if (strcmp(name, "mmio_irq_errors") == 0)
		s->irq_errors = value;
}

static void
test_stats_and_irq_failure(void)
{
	struct stats_seen seen = { 0 };
	struct device_stats_writer w = { .emit = stats_emit, .ctx = &seen };

	setup(5);
	CHECK(negotiate(V1));
	wr(R_STATUS, S_NEGOTIATED | S_DRIVER_OK);
	wr(R_QUEUE_NOTIFY, 0);
	wr(R_QUEUE_NOTIFY, 1);
	/* The line cannot be driven: counted, the state still follows. */
	f.fail_irq = -EIO;
	virtio_config_changed(&toy->vd);
	CHECK_EQ(rd(R_INT_STATUS), 2);
	wr(R_INT_ACK, 2);
	f.fail_irq = 0;
	device_emit_stats(dev, &w);
	CHECK_EQ(seen.kicks, 2);
	CHECK_EQ(seen.irq_errors, 2);
	CHECK(seen.names > 10);
	teardown();
}

int
main(void)
{
	test_create();
	test_reset_values();
	test_wrong_direction();
	test_widths();
	test_features();
	test_queue_programming();
	test_notify_and_interrupt();
	test_irq_level_line();
	test_config_generation();
	test_reset();
	test_stats_and_irq_failure();
	return test_finish();
}
