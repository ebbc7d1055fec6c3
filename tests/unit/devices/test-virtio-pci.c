/*
 * The virtio-pci transport (devices/virtio/virtio-pci.c) as a guest
 * driver sees it: a toy device (2 queues, 8 configuration bytes of which
 * byte 4 is writable) behind the transport, on fake services with guest
 * RAM.  The test finds every structure the way Linux's virtio_pci does,
 * by walking the capability list in configuration space, and reaches
 * them only through the device's config_read/config_write and BAR
 * read/write ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/virtio/virtio-pci.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"

#define MEM_SIZE  (1u << 20)
#define SLOT	  5
#define BAR_GPA	  0xe0000000ull
#define DESC_GPA  0x10000u
#define AVAIL_GPA 0x11000u
#define USED_GPA  0x12000u
#define BUF_GPA	  0xf0000u
#define QSIZE	  4u
#define TOY_ID	  42
#define TOY_F_X	  3 /* a device-specific feature bit */
#define NQUEUES	  2

/* struct virtio_pci_common_cfg, as a driver writes it down (4.1.4.3). */
enum {
	C_DFSELECT = 0x00,
	C_DF = 0x04,
	C_GFSELECT = 0x08,
	C_GF = 0x0c,
	C_MSIX = 0x10,
	C_NUMQ = 0x12,
	C_STATUS = 0x14,
	C_CFGGEN = 0x15,
	C_Q_SELECT = 0x16,
	C_Q_SIZE = 0x18,
	C_Q_MSIX = 0x1a,
	C_Q_ENABLE = 0x1c,
	C_Q_NOFF = 0x1e,
	C_Q_DESC = 0x20,
	C_Q_DRIVER = 0x28,
	C_Q_DEVICE = 0x30,
	C_END = 0x38,
};

#define NO_VECTOR 0xffffu

#define S_ACK	      VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRIVER      VIRTIO_STATUS_DRIVER
#define S_FEATURES_OK VIRTIO_STATUS_FEATURES_OK
#define S_DRIVER_OK   VIRTIO_STATUS_DRIVER_OK
#define S_NEGOTIATED  (S_ACK | S_DRIVER | S_FEATURES_OK)
#define V1	      (1ull << VIRTIO_F_VERSION_1)

struct toy {
	struct virtio_dev vd;
	uint8_t config[8];
	struct vq_chain chain;
};

/* What the toy did; outlives it (the transport frees it). */
struct rec {
	unsigned notified[VIRTIO_QUEUES_MAX]; /* queue_notify calls */
	unsigned pushed[VIRTIO_QUEUES_MAX];   /* chains returned */
	unsigned resets, destroyed, config_writes;
	bool refuse_x;
	bool in_write; /* set around every BAR write of the test */
	unsigned notified_in_write;
};

/* What the capability walk found, as a driver keeps it. */
struct caps {
	unsigned common, notify, isr, device, pci_cfg, msix; /* cap offsets */
	uint32_t common_off, common_len, notify_off, notify_len, isr_off,
		isr_len, device_off, device_len;
	uint32_t mult;
	unsigned count;
};

static const struct device_type toy_type = { .name = "virtio-toy" };
static struct fake_services f;
static struct rec rec;
static struct toy *toy;
static struct device *dev;
static struct caps caps;
static unsigned toy_num_queues = NQUEUES; /* for toys made next */
static size_t toy_config_len = 8;	  /* ... and their config */

static bool
toy_features_ok(struct virtio_dev *vd, uint64_t features)
{
	(void)vd;
	return !(rec.refuse_x && (features & (1ull << TOY_F_X)));
}

/*
 * Return every chain at once, then ask for the interrupt; a broken ring
 * (-EIO) makes the device need a reset, as virtio.h asks.
 */
static void
toy_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct toy *t = (struct toy *)vd;
	int r;

	rec.notified[q]++;
	if (rec.in_write)
		rec.notified_in_write++;
	while ((r = virtqueue_pop(virtio_vq(vd, q), &t->chain)) == 0)
		if (virtqueue_push(virtio_vq(vd, q), t->chain.head, 0) == 0)
			rec.pushed[q]++;
	if (r == -EIO)
		virtio_needs_reset(vd, "toy: broken ring");
	virtio_notify_used(vd, q);
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
	.reset = toy_reset,
	.config_write = toy_config_write,
	.destroy = toy_destroy,
};

static struct toy *
toy_new_id(uint16_t device_id, const struct device_services *svc,
	   bool access_platform)
{
	static const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct toy *t = calloc(1, sizeof(*t));
	struct virtio_dev_params p = {
		.id = "toy",
		.device_id = device_id,
		.features = 1ull << TOY_F_X,
		.access_platform = access_platform,
		.num_queues = toy_num_queues,
		.queue_size_max = 8,
		.config = NULL,
		.config_len = toy_config_len,
	};

	if (!t)
		abort();
	memcpy(t->config, bytes, sizeof(bytes));
	p.config = t->config;
	CHECK_EQ(virtio_dev_init(&t->vd, &toy_ops, svc, &p), 0);
	return t;
}

static struct toy *
toy_new(void)
{
	return toy_new_id(TOY_ID, &f.svc, false);
}

static struct cfg_device
pci_cfg(void)
{
	struct cfg_device c = {
		.keys = CFG_KEY_PCI,
		.pci_sbdf = DEVICE_PCI_SBDF(0, SLOT, 0),
	};

	(void)snprintf(c.id, sizeof(c.id), "vp0");
	return c;
}

/* ---- accessors: configuration space and BAR0 ---- */

static uint32_t
cfg_rd(unsigned offset, unsigned size)
{
	return dev->ops->config_read(dev, offset, size);
}

static void
cfg_wr(unsigned offset, unsigned size, uint32_t value)
{
	rec.in_write = true;
	dev->ops->config_write(dev, offset, size, value);
	rec.in_write = false;
}

static uint64_t
bar_rd(uint64_t offset, unsigned size)
{
	return dev->ops->read(dev, 0, offset, size);
}

static void
bar_wr(uint64_t offset, unsigned size, uint64_t value)
{
	rec.in_write = true;
	dev->ops->write(dev, 0, offset, size, value);
	rec.in_write = false;
}

/* Common configuration fields through the common capability. */
static uint64_t
c_rd(unsigned field, unsigned size)
{
	return bar_rd(caps.common_off + field, size);
}

static void
c_wr(unsigned field, unsigned size, uint64_t value)
{
	bar_wr(caps.common_off + field, size, value);
}

/*
 * Walk the list as Linux's virtio_pci_find_capability does: from
 * PCI_CAPABILITY_LIST through cap_next, keeping the first vendor
 * capability of each cfg_type, and the MSI-X capability.
 */
static void
walk_caps(void)
{
	unsigned ptr = cfg_rd(PCI_CAPABILITY_LIST, 1) & ~3u;

	memset(&caps, 0, sizeof(caps));
	for (unsigned guard = 0; ptr && guard < 48; guard++) {
		unsigned id = cfg_rd(ptr, 1), type = cfg_rd(ptr + 3, 1);
		uint32_t off = cfg_rd(ptr + 8, 4), len = cfg_rd(ptr + 12, 4);

		caps.count++;
		if (id == PCI_CAP_ID_MSIX && !caps.msix)
			caps.msix = ptr;
		if (id == PCI_CAP_ID_VNDR && cfg_rd(ptr + 4, 1) == 0) {
			if (type == 1 && !caps.common) {
				caps.common = ptr;
				caps.common_off = off;
				caps.common_len = len;
			} else if (type == 2 && !caps.notify) {
				caps.notify = ptr;
				caps.notify_off = off;
				caps.notify_len = len;
				caps.mult = cfg_rd(ptr + 16, 4);
			} else if (type == 3 && !caps.isr) {
				caps.isr = ptr;
				caps.isr_off = off;
				caps.isr_len = len;
			} else if (type == 4 && !caps.device) {
				caps.device = ptr;
				caps.device_off = off;
				caps.device_len = len;
			} else if (type == 5 && !caps.pci_cfg) {
				caps.pci_cfg = ptr;
			}
		}
		ptr = cfg_rd(ptr + 1, 1) & ~3u;
	}
}

static void
setup_with(struct toy *t)
{
	struct cfg_device c = pci_cfg();

	toy = t;
	dev = NULL;
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &toy->vd, &dev), 0);
	if (!dev)
		abort();
	walk_caps();
}

static void
setup(void)
{
	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	setup_with(toy_new());
}

static void
teardown(void)
{
	dev->ops->destroy(dev);
	CHECK_EQ(rec.destroyed, 1);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(rec.notified_in_write, 0);
	fake_services_fini(&f);
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK: did it stick? */
static bool
negotiate(uint64_t features)
{
	c_wr(C_STATUS, 1, 0);
	c_wr(C_STATUS, 1, S_ACK);
	c_wr(C_STATUS, 1, S_ACK | S_DRIVER);
	c_wr(C_GFSELECT, 4, 0);
	c_wr(C_GF, 4, (uint32_t)features);
	c_wr(C_GFSELECT, 4, 1);
	c_wr(C_GF, 4, (uint32_t)(features >> 32));
	c_wr(C_STATUS, 1, S_NEGOTIATED);
	return c_rd(C_STATUS, 1) & S_FEATURES_OK;
}

/* Queue q at size QSIZE, rings at q * 0x3000 past the bases, enabled. */
static void
program_queue(unsigned q)
{
	c_wr(C_Q_SELECT, 2, q);
	c_wr(C_Q_SIZE, 2, QSIZE);
	c_wr(C_Q_DESC, 4, DESC_GPA + 0x3000 * q);
	c_wr(C_Q_DESC + 4, 4, 0);
	c_wr(C_Q_DRIVER, 4, AVAIL_GPA + 0x3000 * q);
	c_wr(C_Q_DRIVER + 4, 4, 0);
	c_wr(C_Q_DEVICE, 4, USED_GPA + 0x3000 * q);
	c_wr(C_Q_DEVICE + 4, 4, 0);
	c_wr(C_Q_ENABLE, 2, 1);
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

/* The notification address of queue q, as Linux computes it. */
static uint64_t
notify_addr(unsigned q)
{
	uint16_t off;

	c_wr(C_Q_SELECT, 2, q);
	off = (uint16_t)c_rd(C_Q_NOFF, 2);
	return caps.notify_off + (uint64_t)off * caps.mult;
}

static void
kick(unsigned q)
{
	bar_wr(notify_addr(q), 2, q);
}

/* Features up, queue q ready, DRIVER_OK, the first serve done. */
static void
bring_up(unsigned q)
{
	CHECK(negotiate(V1));
	program_queue(q);
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
}

static uint8_t
isr_rd(void)
{
	return (uint8_t)bar_rd(caps.isr_off, 1);
}

/* ---- MSI-X, through the capability and the table in BAR0 ---- */

static uint32_t
msix_table_off(void)
{
	return cfg_rd(caps.msix + 4, 4) & ~7u;
}

static uint32_t
msix_pba_off(void)
{
	return cfg_rd(caps.msix + 8, 4) & ~7u;
}

static void
msix_enable(bool on)
{
	cfg_wr(caps.msix + 3, 1, on ? 0x80 : 0);
}

/* Entry v: address 0xfee00000 + v * 0x1000, data 0x40 + v, unmasked. */
static void
msix_program(unsigned v)
{
	uint64_t e = msix_table_off() + 16 * v;

	bar_wr(e, 4, 0xfee00000u + 0x1000 * v);
	bar_wr(e + 4, 4, 0);
	bar_wr(e + 8, 4, 0x40 + v);
	bar_wr(e + 12, 4, 0);
}

static void
msix_mask(unsigned v, bool masked)
{
	bar_wr(msix_table_off() + 16 * v + 12, 4, masked);
}

static uint64_t
pba(void)
{
	return bar_rd(msix_pba_off(), 8);
}

/* ---- the tests ---- */

static void
test_create(void)
{
	struct cfg_device c = pci_cfg();
	struct device *d = NULL;
	struct toy *t;

	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	t = toy_new();
	c.keys = CFG_KEY_MMIO;
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &t->vd, &d), -EINVAL);
	c = pci_cfg();
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &t->vd, NULL),
		 -EINVAL);
	CHECK_EQ(virtio_pci_create(&c, NULL, &f.svc, &t->vd, &d), -EINVAL);
	/* Device ids Linux would not bind (1040 + id up to 107f). */
	t->vd.device_id = 0;
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &t->vd, &d), -EINVAL);
	t->vd.device_id = 64;
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &t->vd, &d), -EINVAL);
	t->vd.device_id = TOY_ID;
	/* Failures leave vd alone: no transport, still ours to free. */
	CHECK(d == NULL);
	CHECK(t->vd.transport == NULL);
	CHECK_EQ(rec.destroyed, 0);
	CHECK_EQ(virtio_pci_create(&c, &toy_type, &f.svc, &t->vd, &d), 0);
	CHECK(d != NULL);
	if (d) {
		CHECK(d->is_pci);
		CHECK_EQ(d->pci_sbdf, DEVICE_PCI_SBDF(0, SLOT, 0));
		CHECK(d->pci != NULL);
		CHECK(device_has_config(d));
		CHECK(d->region_count >= 1);
		CHECK_EQ(d->regions[0].space, BUS_SPACE_MMIO);
		CHECK_EQ(d->regions[0].size, 0); /* until the guest places it */
		CHECK(strcmp(d->id, "vp0") == 0);
		CHECK(d->type == &toy_type);
		CHECK(t->vd.transport != NULL);
		d->ops->destroy(d);
	}
	CHECK_EQ(rec.destroyed, 1);
	CHECK_EQ(rec.resets, 1); /* virtio_dev_fini before the free */

	/* virtio_transport_create picks this transport for `pci`. */
	t = toy_new();
	d = NULL;
	CHECK_EQ(virtio_transport_create(&c, &toy_type, &f.svc, &t->vd, &d), 0);
	CHECK(d != NULL && d->is_pci && d->ops->config_read);
	if (d) {
		CHECK_EQ(d->ops->config_read(d, PCI_VENDOR_ID, 2), 0x1af4);
		d->ops->destroy(d);
	}
	CHECK_EQ(rec.destroyed, 2);
	fake_services_fini(&f);
}

/* The header: ids as Linux's virtio_pci_modern matches them. */
static void
test_header(void)
{
	static const struct {
		uint16_t id;
		uint32_t class_code;
	} types[] = {
		{ VIRTIO_ID_NET, 0x020000 },
		{ VIRTIO_ID_BLOCK, 0x010000 },
		{ VIRTIO_ID_CONSOLE, 0x078000 },
		{ VIRTIO_ID_RNG, 0x00ff00 },
		{ TOY_ID, 0x00ff00 },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&rec, 0, sizeof(rec));
		CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
		setup_with(toy_new_id(types[i].id, &f.svc, false));
		CHECK_EQ(cfg_rd(PCI_VENDOR_ID, 2), 0x1af4);
		CHECK_EQ(cfg_rd(PCI_DEVICE_ID, 2), 0x1040 + types[i].id);
		CHECK_EQ(cfg_rd(PCI_REVISION_ID, 1), 1);
		CHECK_EQ(cfg_rd(PCI_CLASS_PROG, 1), types[i].class_code & 0xff);
		CHECK_EQ(cfg_rd(PCI_CLASS_PROG + 1, 2),
			 types[i].class_code >> 8);
		CHECK_EQ(cfg_rd(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
		/* Non-transitional: 0x40 or more (4.1.2.1). */
		CHECK_EQ(cfg_rd(PCI_SUBSYSTEM_ID, 2), 0x1040 + types[i].id);
		teardown();
	}
	setup();
	CHECK_EQ(cfg_rd(PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(cfg_rd(PCI_INTERRUPT_PIN, 1), 1); /* INTA */
	CHECK(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	CHECK_EQ(cfg_rd(PCI_COMMAND, 2), 0);
	/* The identity is read-only. */
	cfg_wr(PCI_VENDOR_ID, 4, 0);
	cfg_wr(PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	cfg_wr(PCI_REVISION_ID, 4, 0);
	CHECK_EQ(cfg_rd(PCI_VENDOR_ID, 4), (0x1040u + TOY_ID) << 16 | 0x1af4);
	CHECK_EQ(cfg_rd(PCI_SUBSYSTEM_VENDOR_ID, 4),
		 (0x1040u + TOY_ID) << 16 | 0x1af4);
	CHECK_EQ(cfg_rd(PCI_REVISION_ID, 1), 1);
	teardown();
}

/* Every capability where Linux's vp_modern_probe expects it. */
static void
test_capabilities(void)
{
	uint32_t bar_size;

	setup();
	/* Sizing BAR0 as firmware does: 64-bit, memory, not prefetchable. */
	cfg_wr(PCI_BAR0, 4, 0xffffffffu);
	cfg_wr(PCI_BAR0 + 4, 4, 0xffffffffu);
	CHECK_EQ(cfg_rd(PCI_BAR0, 4) & 0xf, PCI_BAR_MEM_64);
	CHECK_EQ(cfg_rd(PCI_BAR0 + 4, 4), 0xffffffffu);
	bar_size = ~(cfg_rd(PCI_BAR0, 4) & ~0xfu) + 1;
	CHECK(bar_size >= 0x1000);
	cfg_wr(PCI_BAR0, 4, 0);
	cfg_wr(PCI_BAR0 + 4, 4, 0);

	/* Six capabilities: five virtio ones and MSI-X, no loop. */
	CHECK_EQ(caps.count, 6);
	CHECK(caps.common && caps.notify && caps.isr && caps.device &&
	      caps.pci_cfg && caps.msix);
	/* cap_len covers each structure (16, notify and access 20). */
	CHECK_EQ(cfg_rd(caps.common + 2, 1), 16);
	CHECK_EQ(cfg_rd(caps.notify + 2, 1), 20);
	CHECK_EQ(cfg_rd(caps.isr + 2, 1), 16);
	CHECK_EQ(cfg_rd(caps.device + 2, 1), 16);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 2, 1), 20);
	/* Each structure within BAR0, aligned as vp_modern_map_capability
	 * demands, as long as it has to be. */
	CHECK(caps.common_len >= C_END);
	CHECK_EQ(caps.common_off % 4, 0);
	CHECK(caps.common_off + caps.common_len <= bar_size);
	CHECK(caps.isr_len >= 1);
	CHECK(caps.isr_off + caps.isr_len <= bar_size);
	/* A page, as QEMU's, beyond the 8 bytes the toy has. */
	CHECK(caps.device_len >= 8);
	CHECK_EQ(caps.device_off % 4, 0);
	CHECK(caps.device_off + caps.device_len <= bar_size);
	CHECK_EQ(caps.notify_off % 2, 0);
	CHECK(caps.mult >= 2 && caps.mult % 2 == 0);
	CHECK(caps.notify_len >= (NQUEUES - 1) * caps.mult + 2);
	CHECK(caps.notify_off + caps.notify_len <= bar_size);
	/* The structures do not overlap each other. */
	CHECK(caps.common_off + caps.common_len <= caps.isr_off ||
	      caps.isr_off + caps.isr_len <= caps.common_off);
	CHECK(caps.device_off + caps.device_len <= caps.notify_off ||
	      caps.notify_off + caps.notify_len <= caps.device_off);
	/* MSI-X: num_queues + 1 entries, table and PBA in BAR0. */
	CHECK_EQ(cfg_rd(caps.msix + 2, 2) & 0x7ff, NQUEUES);
	CHECK_EQ(cfg_rd(caps.msix + 4, 4) & 7, 0);
	CHECK_EQ(cfg_rd(caps.msix + 8, 4) & 7, 0);
	CHECK(msix_table_off() + 16 * (NQUEUES + 1) <= bar_size);
	CHECK(msix_pba_off() + 8 <= bar_size);
	/* Capabilities are read-only, except the access window. */
	cfg_wr(caps.common + 3, 1, 4);
	cfg_wr(caps.common + 8, 4, 0x100);
	cfg_wr(caps.notify + 16, 4, 0);
	CHECK_EQ(cfg_rd(caps.common + 3, 1), 1);
	CHECK_EQ(cfg_rd(caps.common + 8, 4), caps.common_off);
	CHECK_EQ(cfg_rd(caps.notify + 16, 4), caps.mult);
	teardown();
}

/* BAR0 placed and moved by the guest: the claim follows. */
static void
test_bar(void)
{
	setup();
	cfg_wr(PCI_BAR0, 4, (uint32_t)BAR_GPA);
	cfg_wr(PCI_BAR0 + 4, 4, 0);
	CHECK_EQ(dev->regions[0].size, 0); /* decode still off */
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(dev->regions[0].base, BAR_GPA);
	CHECK(dev->regions[0].size >= 0x1000);
	CHECK(f.region_changes >= 1);
	CHECK_EQ(f.changes[f.region_changes - 1].region, 0);
	CHECK_EQ(f.changes[f.region_changes - 1].new.base, BAR_GPA);
	/* Above 4 GiB, as a 64-bit BAR may sit. */
	cfg_wr(PCI_BAR0 + 4, 4, 0x10);
	CHECK_EQ(dev->regions[0].base, 0x10e0000000ull);
	cfg_wr(PCI_COMMAND, 2, 0);
	CHECK_EQ(dev->regions[0].size, 0);
	teardown();
}

/* Power-on values, each field at its natural width. */
static void
test_common_reset_values(void)
{
	setup();
	CHECK_EQ(c_rd(C_DFSELECT, 4), 0);
	CHECK_EQ(c_rd(C_DF, 4), (1u << TOY_F_X) |
					(1u << VIRTIO_F_INDIRECT_DESC) |
					(1u << VIRTIO_F_EVENT_IDX));
	c_wr(C_DFSELECT, 4, 1);
	CHECK_EQ(c_rd(C_DFSELECT, 4), 1);
	CHECK_EQ(c_rd(C_DF, 4), 1); /* VERSION_1, no ACCESS_PLATFORM */
	c_wr(C_DFSELECT, 4, 0xffffffffu);
	CHECK_EQ(c_rd(C_DF, 4), 0);
	CHECK_EQ(c_rd(C_GFSELECT, 4), 0);
	CHECK_EQ(c_rd(C_GF, 4), 0);
	CHECK_EQ(c_rd(C_MSIX, 2), NO_VECTOR);
	CHECK_EQ(c_rd(C_NUMQ, 2), NQUEUES);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	CHECK_EQ(c_rd(C_CFGGEN, 1), 0);
	CHECK_EQ(c_rd(C_Q_SELECT, 2), 0);
	for (unsigned q = 0; q < NQUEUES; q++) {
		c_wr(C_Q_SELECT, 2, q);
		CHECK_EQ(c_rd(C_Q_SIZE, 2), 8);
		CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
		CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
		CHECK_EQ(c_rd(C_Q_NOFF, 2), q);
		CHECK_EQ(c_rd(C_Q_DESC, 8), 0);
		CHECK_EQ(c_rd(C_Q_DRIVER, 4), 0);
		CHECK_EQ(c_rd(C_Q_DEVICE + 4, 4), 0);
	}
	/* No such queue: size 0 ("unavailable"), nothing else either. */
	c_wr(C_Q_SELECT, 2, NQUEUES);
	CHECK_EQ(c_rd(C_Q_SELECT, 2), NQUEUES);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	c_wr(C_Q_SELECT, 2, 0xffff);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 0);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	CHECK_EQ(f.intx_calls, 0);
	CHECK_EQ(f.msi_count, 0);
	teardown();
}

/* Accesses the spec does not allow: all-ones, dropped, counted. */
static void
test_common_hostile_widths(void)
{
	static const struct {
		unsigned offset, size;
	} bad[] = {
		{ C_DFSELECT, 1 },     { C_DFSELECT, 2 },
		{ C_DFSELECT + 1, 2 }, { C_DFSELECT, 8 },
		{ C_DF + 2, 2 },       { C_MSIX, 4 },
		{ C_MSIX, 1 },	       { C_NUMQ + 1, 1 },
		{ C_STATUS, 2 },       { C_STATUS, 4 },
		{ C_CFGGEN - 1, 2 },   { C_Q_SELECT, 4 },
		{ C_Q_SIZE + 1, 2 },   { C_Q_DESC, 2 },
		{ C_Q_DESC + 2, 4 },   { C_Q_DESC + 4, 8 },
		{ C_Q_DRIVER, 1 },     { C_Q_DEVICE + 6, 2 },
		{ C_END, 1 },	       { C_END, 2 },
		{ C_END, 4 },	       { C_END + 0x100, 4 },
		{ 0xffc, 4 },	       { 0xffe, 4 },
	};
	const size_t n = sizeof(bad) / sizeof(bad[0]);
	uint64_t before;

	setup();
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(c_rd(bad[i].offset, bad[i].size),
			 bad[i].size == 8 ? UINT64_MAX :
					    (1ull << (8 * bad[i].size)) - 1);
	CHECK_EQ(dev->stats.bad_accesses, n);
	/* The same writes change nothing. */
	before = dev->stats.bad_accesses;
	for (size_t i = 0; i < n; i++)
		c_wr(bad[i].offset, bad[i].size, 0x0101010101010101ull);
	CHECK_EQ(dev->stats.bad_accesses, before + n);
	CHECK_EQ(c_rd(C_DFSELECT, 4), 0);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	CHECK_EQ(c_rd(C_Q_SELECT, 2), 0);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 8);
	CHECK_EQ(c_rd(C_Q_DESC, 8), 0);
	CHECK_EQ(c_rd(C_MSIX, 2), NO_VECTOR);
	/* Read-only fields keep their values. */
	before = dev->stats.bad_accesses;
	c_wr(C_DF, 4, 0);
	c_wr(C_NUMQ, 2, 7);
	c_wr(C_CFGGEN, 1, 9);
	c_wr(C_Q_NOFF, 2, 5);
	CHECK_EQ(dev->stats.bad_accesses, before + 4);
	CHECK(c_rd(C_DF, 4) & (1u << TOY_F_X));
	CHECK_EQ(c_rd(C_NUMQ, 2), NQUEUES);
	CHECK_EQ(c_rd(C_CFGGEN, 1), 0);
	CHECK_EQ(c_rd(C_Q_NOFF, 2), 0);
	/* The ISR: one byte; wider or elsewhere is all-ones, not a clear. */
	before = dev->stats.bad_accesses;
	CHECK_EQ(bar_rd(caps.isr_off, 4), 0xffffffffu);
	CHECK_EQ(bar_rd(caps.isr_off + 1, 1), 0xff);
	bar_wr(caps.isr_off, 1, 0);
	CHECK_EQ(dev->stats.bad_accesses, before + 3);
	/* Pages beyond every structure, other regions. */
	CHECK_EQ(bar_rd(0x7000, 4), 0xffffffffu);
	CHECK_EQ(dev->ops->read(dev, 1, 0, 4), 0xffffffffu);
	CHECK_EQ(dev->ops->read(dev, 0, 0x1000000, 4), 0xffffffffu);
	CHECK_EQ(dev->stats.bad_accesses, before + 6);
	teardown();
}

/*
 * A device without configuration (virtio-rng) still has the structure:
 * SeaBIOS takes a function without all four for a legacy one.
 */
static void
test_no_device_config(void)
{
	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	toy_config_len = 0;
	setup_with(toy_new());
	toy_config_len = 8;
	CHECK(caps.common && caps.notify && caps.isr && caps.device);
	CHECK_EQ(caps.count, 6);
	CHECK_EQ(bar_rd(caps.device_off, 1), 0xff);
	CHECK_EQ(bar_rd(caps.device_off, 4), 0xffffffffu);
	bar_wr(caps.device_off, 4, 0);
	CHECK_EQ(rec.config_writes, 0);
	teardown();
}

/* Device configuration through its capability: 1, 2, 4, 8 bytes. */
static void
test_device_config(void)
{
	uint64_t d, before;

	setup();
	d = caps.device_off;
	CHECK_EQ(bar_rd(d, 1), 1);
	CHECK_EQ(bar_rd(d + 1, 1), 2);
	CHECK_EQ(bar_rd(d + 2, 2), 0x0403);
	CHECK_EQ(bar_rd(d + 4, 4), 0x08070605);
	CHECK_EQ(bar_rd(d, 8), 0x0807060504030201ull);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	/* Past its 8 bytes: all-ones. */
	CHECK_EQ(bar_rd(d + 8, 1), 0xff);
	CHECK_EQ(bar_rd(d + 6, 4), 0xffffffffu);
	CHECK_EQ(bar_rd(d + 4, 8), UINT64_MAX);
	CHECK_EQ(dev->stats.bad_accesses, 3);
	/* Writes go to the device, which takes byte 4 only. */
	bar_wr(d + 4, 1, 0xaa);
	bar_wr(d, 1, 0xbb);
	CHECK_EQ(bar_rd(d, 8), 0x080706aa04030201ull);
	CHECK_EQ(rec.config_writes, 2);
	before = dev->stats.bad_accesses;
	bar_wr(d + 8, 4, 0);
	CHECK_EQ(rec.config_writes, 2);
	CHECK_EQ(dev->stats.bad_accesses, before + 1);
	/* The generation follows the device's changes. */
	virtio_config_changed(&toy->vd);
	CHECK_EQ(c_rd(C_CFGGEN, 1), 1);
	teardown();
}

static void
test_features(void)
{
	setup();
	/* Without VERSION_1: FEATURES_OK does not stick. */
	CHECK(!negotiate(1ull << TOY_F_X));
	CHECK_EQ(c_rd(C_STATUS, 1), S_ACK | S_DRIVER);
	/* A bit never offered. */
	CHECK(!negotiate(V1 | (1ull << 20)));
	/* ACCESS_PLATFORM is not offered with foreign DMA. */
	CHECK(!negotiate(V1 | (1ull << VIRTIO_F_ACCESS_PLATFORM)));
	/* The device's own veto. */
	rec.refuse_x = true;
	CHECK(!negotiate(V1 | (1ull << TOY_F_X)));
	rec.refuse_x = false;
	/* Accepted; the driver's words read back as written. */
	CHECK(negotiate(V1 | (1ull << TOY_F_X)));
	CHECK_EQ(c_rd(C_STATUS, 1), S_NEGOTIATED);
	c_wr(C_GFSELECT, 4, 0);
	CHECK_EQ(c_rd(C_GF, 4), 1u << TOY_F_X);
	c_wr(C_GFSELECT, 4, 1);
	CHECK_EQ(c_rd(C_GF, 4), 1);
	CHECK(virtio_has_feature(&toy->vd, TOY_F_X));
	/* Frozen after FEATURES_OK. */
	c_wr(C_GFSELECT, 4, 0);
	c_wr(C_GF, 4, 0);
	CHECK_EQ(c_rd(C_GF, 4), 1u << TOY_F_X);
	/* Status bits cannot be cleared without a reset. */
	c_wr(C_STATUS, 1, S_ACK);
	CHECK_EQ(c_rd(C_STATUS, 1), S_NEGOTIATED);
	teardown();
}

static void
test_queue_programming(void)
{
	struct virtio_queue *vq0, *vq1;
	uint64_t bad;

	setup();
	vq0 = virtio_queue(&toy->vd, 0);
	vq1 = virtio_queue(&toy->vd, 1);
	/* Enabled before FEATURES_OK: refused. */
	program_queue(0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK(negotiate(V1));
	/* 64-bit addresses by halves, high first or low first, or whole. */
	c_wr(C_Q_SELECT, 2, 1);
	c_wr(C_Q_DESC + 4, 4, 0x12);
	c_wr(C_Q_DESC, 4, 0x34567000);
	c_wr(C_Q_DRIVER, 4, 0x1000);
	c_wr(C_Q_DRIVER + 4, 4, 0xab);
	c_wr(C_Q_DEVICE, 8, 0xffffffff00002000ull);
	CHECK_EQ(vq1->desc_gpa, 0x1234567000ull);
	CHECK_EQ(vq1->driver_gpa, 0xab00001000ull);
	CHECK_EQ(vq1->device_gpa, 0xffffffff00002000ull);
	CHECK_EQ(c_rd(C_Q_DESC, 8), 0x1234567000ull);
	CHECK_EQ(c_rd(C_Q_DRIVER + 4, 4), 0xab);
	CHECK_EQ(c_rd(C_Q_DEVICE, 4), 0x2000);
	CHECK_EQ(vq0->desc_gpa, 0);
	/* queue_size: a power of two up to the maximum. */
	c_wr(C_Q_SIZE, 2, 3);
	c_wr(C_Q_SIZE, 2, 16);
	c_wr(C_Q_SIZE, 2, 0);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 8);
	c_wr(C_Q_SIZE, 2, 2);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 2);
	/* Queue 0 enabled: its rings are mapped. */
	program_queue(0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 1);
	CHECK(vq0->ready);
	CHECK_EQ(vq0->size, QSIZE);
	CHECK_EQ(f.maps_held, 3);
	/* queue_enable 0 is not the driver's to write: it stays enabled. */
	bad = dev->stats.bad_accesses;
	c_wr(C_Q_ENABLE, 2, 0);
	c_wr(C_Q_ENABLE, 2, 2);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 1);
	CHECK(vq0->ready);
	CHECK_EQ(dev->stats.bad_accesses, bad + 2);
	/* A ready queue's fields stay as they are. */
	bad = toy->vd.stats.bad_queue_writes;
	c_wr(C_Q_SIZE, 2, 2);
	c_wr(C_Q_DESC, 4, 0x5000);
	c_wr(C_Q_DESC + 4, 4, 1);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), QSIZE);
	CHECK_EQ(c_rd(C_Q_DESC, 8), DESC_GPA);
	CHECK_EQ(toy->vd.stats.bad_queue_writes, bad + 3);
	/* A queue that does not exist: writes go nowhere. */
	c_wr(C_Q_SELECT, 2, NQUEUES);
	c_wr(C_Q_SIZE, 2, 4);
	c_wr(C_Q_DESC, 4, 0x5000);
	c_wr(C_Q_MSIX, 2, 0);
	c_wr(C_Q_ENABLE, 2, 1);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK_EQ(c_rd(C_Q_DESC, 8), 0);
	CHECK_EQ(vq1->desc_gpa, 0x1234567000ull);
	CHECK_EQ(vq1->size, 2);
	/* Enabling a queue whose rings are outside guest RAM: the core
	 * sets DEVICE_NEEDS_RESET and the queue stays disabled. */
	c_wr(C_Q_SELECT, 2, 1);
	c_wr(C_Q_DEVICE, 8, MEM_SIZE + 0x1000);
	c_wr(C_Q_DESC, 8, DESC_GPA + 0x3000);
	c_wr(C_Q_DRIVER, 8, AVAIL_GPA + 0x3000);
	c_wr(C_Q_ENABLE, 2, 1);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK(c_rd(C_STATUS, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	teardown();
}

/* A notification is answered first and served after the request. */
static void
test_notify(void)
{
	struct {
		uint64_t offset;
		unsigned size;
	} bad[4];
	uint64_t before;

	setup();
	bring_up(0);
	CHECK_EQ(rec.notified[0], 1); /* DRIVER_OK serves once: nothing */
	CHECK_EQ(rec.pushed[0], 0);

	make_available(0);
	kick(0);
	CHECK_EQ(rec.notified[0], 1); /* not inside the write */
	fake_services_answered(&f);
	CHECK_EQ(rec.notified[0], 2);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK_EQ(get16(USED_GPA + 2), 1); /* used.idx */
	/* A 4-byte write works as well; the value is not what counts. */
	make_available(0);
	bar_wr(notify_addr(0), 4, 0x1234);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 2);

	/* Queue 1 exists but is not enabled: remembered, not served. */
	kick(1);
	fake_services_answered(&f);
	CHECK_EQ(rec.notified[1], 0);
	CHECK_EQ(toy->vd.stats.kicks_early, 1);

	/* Addresses naming no queue, widths not 2 or 4: ignored, counted. */
	bad[0].offset = caps.notify_off + (uint64_t)NQUEUES * caps.mult;
	bad[0].size = 2;
	bad[1].offset = caps.notify_off + 1;
	bad[1].size = 2;
	bad[2].offset = caps.notify_off;
	bad[2].size = 1;
	bad[3].offset = caps.notify_off + 0xffc;
	bad[3].size = 4;
	before = dev->stats.bad_accesses;
	for (unsigned i = 0; i < 4; i++)
		bar_wr(bad[i].offset, bad[i].size, 0);
	fake_services_answered(&f);
	CHECK_EQ(dev->stats.bad_accesses, before + 4);
	CHECK_EQ(rec.notified[0], 3);
	CHECK_EQ(rec.notified[1], 0);
	/* The notify structure reads as nothing. */
	CHECK_EQ(bar_rd(caps.notify_off, 2), 0xffff);
	teardown();
}

/* MSI-X: the driver's vectors, masking, pending bits, NO_VECTOR. */
static void
test_msix(void)
{
	setup();
	msix_enable(true);
	for (unsigned v = 0; v <= NQUEUES; v++)
		msix_program(v);
	/* Vectors as Linux maps them: config 0, queue q at q + 1. */
	c_wr(C_MSIX, 2, 0);
	CHECK_EQ(c_rd(C_MSIX, 2), 0);
	for (unsigned q = 0; q < NQUEUES; q++) {
		c_wr(C_Q_SELECT, 2, q);
		c_wr(C_Q_MSIX, 2, q + 1);
		CHECK_EQ(c_rd(C_Q_MSIX, 2), q + 1);
	}
	/* Beyond the table (3 entries): NO_VECTOR reads back. */
	c_wr(C_Q_SELECT, 2, 1);
	c_wr(C_Q_MSIX, 2, NQUEUES + 1);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	c_wr(C_Q_MSIX, 2, 0x7ff);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	c_wr(C_MSIX, 2, 3);
	CHECK_EQ(c_rd(C_MSIX, 2), NO_VECTOR);
	c_wr(C_MSIX, 2, 0);
	c_wr(C_Q_MSIX, 2, 2);

	bring_up(0);
	CHECK(negotiate(V1)); /* resets: vectors back to NO_VECTOR */
	CHECK_EQ(c_rd(C_MSIX, 2), NO_VECTOR);
	c_wr(C_Q_SELECT, 2, 0);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	c_wr(C_MSIX, 2, 0);
	c_wr(C_Q_SELECT, 2, 0);
	c_wr(C_Q_MSIX, 2, 1);
	c_wr(C_Q_SELECT, 2, 1);
	c_wr(C_Q_MSIX, 2, 2);
	program_queue(0);
	program_queue(1);
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	CHECK_EQ(f.msi_count, 0); /* nothing used yet: no interrupt */

	/* Queue 0 used: vector 1's message. */
	make_available(0);
	kick(0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK_EQ(f.msi_count, 1);
	CHECK_EQ(f.last_msi_addr, 0xfee01000u);
	CHECK_EQ(f.last_msi_data, 0x41);
	/* Configuration change: vector 0. */
	virtio_config_changed(&toy->vd);
	CHECK_EQ(f.msi_count, 2);
	CHECK_EQ(f.last_msi_addr, 0xfee00000u);
	CHECK_EQ(f.last_msi_data, 0x40);
	/* The ISR has the config bit (4.1.4.5.1), never the queue bit
	 * while MSI-X is on, and INTx stays down. */
	CHECK_EQ(isr_rd(), 2);
	CHECK_EQ(isr_rd(), 0);
	CHECK_EQ(f.intx_calls, 0);
	CHECK(!f.intx_level[SLOT][0]);

	/* Queue 1's vector masked: a pending bit, sent on unmask. */
	msix_mask(2, true);
	make_available(1);
	kick(1);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[1], 1);
	CHECK_EQ(f.msi_count, 2);
	CHECK_EQ(pba(), 1u << 2);
	msix_mask(2, false);
	CHECK_EQ(f.msi_count, 3);
	CHECK_EQ(f.last_msi_addr, 0xfee02000u);
	CHECK_EQ(f.last_msi_data, 0x42);
	CHECK_EQ(pba(), 0);
	/* The function mask holds every vector back. */
	cfg_wr(caps.msix + 3, 1, 0xc0);
	virtio_config_changed(&toy->vd);
	CHECK_EQ(f.msi_count, 3);
	CHECK_EQ(pba(), 1);
	cfg_wr(caps.msix + 3, 1, 0x80);
	CHECK_EQ(f.msi_count, 4);
	CHECK_EQ(f.last_msi_data, 0x40);
	CHECK_EQ(isr_rd(), 2); /* that config change's bit */

	/* A queue with NO_VECTOR: no message, no ISR, no INTx. */
	c_wr(C_Q_SELECT, 2, 0);
	c_wr(C_Q_MSIX, 2, NO_VECTOR);
	make_available(0);
	kick(0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 2);
	CHECK_EQ(f.msi_count, 4);
	CHECK_EQ(pba(), 0);
	CHECK_EQ(isr_rd(), 0);
	CHECK_EQ(f.intx_calls, 0);
	teardown();
}

/* MSI-X off: ISR bits and the INTx level, read to clear. */
static void
test_intx_isr(void)
{
	setup();
	bring_up(0);
	CHECK(!f.intx_level[SLOT][0]);
	make_available(0);
	kick(0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK(f.intx_level[SLOT][0]);
	CHECK_EQ(f.intx_calls, 1);
	CHECK(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK_EQ(dev->stats.irq_raises, 1);
	/* A config change on top: both bits, still one edge. */
	virtio_config_changed(&toy->vd);
	CHECK_EQ(f.intx_calls, 1);
	CHECK_EQ(isr_rd(), 3);
	CHECK(!f.intx_level[SLOT][0]);
	CHECK_EQ(f.intx_calls, 2);
	CHECK(!(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	CHECK_EQ(isr_rd(), 0); /* cleared by the read */
	CHECK_EQ(f.intx_calls, 2);
	/* Config only: bit 1. */
	virtio_config_changed(&toy->vd);
	CHECK(f.intx_level[SLOT][0]);
	CHECK_EQ(isr_rd(), 2);
	CHECK(!f.intx_level[SLOT][0]);
	/* COMMAND.INTX_DISABLE keeps the line down; the ISR still says. */
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	make_available(0);
	kick(0);
	fake_services_answered(&f);
	CHECK(!f.intx_level[SLOT][0]);
	cfg_wr(PCI_COMMAND, 2, 0);
	CHECK(f.intx_level[SLOT][0]);
	/* Turning MSI-X on takes the line down too (the PCI model). */
	msix_enable(true);
	CHECK(!f.intx_level[SLOT][0]);
	msix_enable(false);
	CHECK(f.intx_level[SLOT][0]);
	CHECK_EQ(isr_rd(), 1);
	CHECK(!f.intx_level[SLOT][0]);
	teardown();
}

/* Point the access capability's window. */
static void
window(unsigned bar, uint32_t offset, uint32_t length)
{
	cfg_wr(caps.pci_cfg + 4, 1, bar);
	cfg_wr(caps.pci_cfg + 8, 4, offset);
	cfg_wr(caps.pci_cfg + 12, 4, length);
}

/* The PCI configuration access capability: BAR0 without the BAR. */
static void
test_pci_cfg_window(void)
{
	unsigned data;
	uint64_t before;

	setup();
	data = caps.pci_cfg + 16;
	/* BAR0 is not placed, memory decode is off: the window works. */
	CHECK_EQ(dev->regions[0].size, 0);
	window(0, caps.common_off + C_DF, 4);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 4, 1), 0);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 8, 4), caps.common_off + C_DF);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 12, 4), 4);
	CHECK_EQ(cfg_rd(data, 4), (1u << TOY_F_X) |
					  (1u << VIRTIO_F_INDIRECT_DESC) |
					  (1u << VIRTIO_F_EVENT_IDX));
	/* Writes: device_feature_select, then status, one byte. */
	window(0, caps.common_off + C_DFSELECT, 4);
	cfg_wr(data, 4, 1);
	CHECK_EQ(c_rd(C_DFSELECT, 4), 1);
	window(0, caps.common_off + C_STATUS, 1);
	cfg_wr(data, 1, S_ACK);
	CHECK_EQ(c_rd(C_STATUS, 1), S_ACK);
	CHECK_EQ(cfg_rd(data, 1), S_ACK);
	/* A wider config access than the window: the window's bytes. */
	CHECK_EQ(cfg_rd(data, 4), S_ACK);
	window(0, caps.common_off + C_NUMQ, 2);
	CHECK_EQ(cfg_rd(data, 2), NQUEUES);
	/* Device configuration and the MSI-X table are there too. */
	window(0, caps.device_off + 4, 4);
	CHECK_EQ(cfg_rd(data, 4), 0x08070605);
	window(0, msix_table_off() + 12, 4);
	CHECK_EQ(cfg_rd(data, 4), 1); /* entry 0 masked at power-on */
	CHECK_EQ(dev->stats.bad_accesses, 0);

	/* Bad windows: all-ones, writes dropped, counted. */
	before = dev->stats.bad_accesses;
	window(1, caps.common_off + C_DFSELECT, 4); /* not BAR0 */
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	cfg_wr(data, 4, 0);
	/* Unaligned, where BAR0 itself would answer (device config). */
	window(0, caps.device_off + 2, 4);
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	window(0, caps.device_off + 1, 2);
	CHECK_EQ(cfg_rd(data, 2), 0xffff);
	window(0, caps.common_off + C_DFSELECT, 3); /* length 3 */
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	window(0, caps.common_off + C_DFSELECT, 8); /* length 8 */
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	window(0, caps.common_off + C_DFSELECT, 0); /* length 0 */
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	window(0, 0xfffffffcu, 4); /* outside BAR0 */
	CHECK_EQ(cfg_rd(data, 4), 0xffffffffu);
	window(0, caps.common_off + C_DFSELECT, 4);
	CHECK_EQ(cfg_rd(data, 2), 0xffff);   /* narrower than the window */
	cfg_wr(data, 1, 0);		     /* ... both ways */
	CHECK_EQ(cfg_rd(data + 1, 1), 0xff); /* not at pci_cfg_data */
	CHECK_EQ(cfg_rd(data - 2, 4), 0xffffffffu); /* straddling it */
	CHECK_EQ(toy->vd.stats.bad_status_writes, 0);
	CHECK_EQ(c_rd(C_DFSELECT, 4), 1); /* no write went through */
	CHECK_EQ(dev->stats.bad_accesses, before + 12);
	/* The window's own fields are reset with the function. */
	dev->ops->reset(dev);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 8, 4), 0);
	CHECK_EQ(cfg_rd(caps.pci_cfg + 12, 4), 0);
	teardown();
}

/* The ISR and a notification through the window, as BAR0 gives them. */
static void
test_pci_cfg_window_isr_notify(void)
{
	unsigned data;

	setup();
	data = caps.pci_cfg + 16;
	bring_up(0);
	make_available(0);
	window(0, (uint32_t)notify_addr(0), 2);
	cfg_wr(data, 2, 0);
	CHECK_EQ(rec.notified[0], 1); /* deferred here as well */
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK(f.intx_level[SLOT][0]);
	window(0, caps.isr_off, 1);
	CHECK_EQ(cfg_rd(data, 1), 1);
	CHECK(!f.intx_level[SLOT][0]);
	CHECK_EQ(cfg_rd(data, 1), 0);
	teardown();
}

/*
 * SeaBIOS's way with a BAR above 4 GiB, which its 32-bit code cannot
 * reach: every access through the window, length min(size, 4), a 64-bit
 * field as two 32-bit halves, a notification as a 16-bit write.
 */
static uint64_t
sb_read(uint32_t offset, unsigned size)
{
	uint64_t v;

	cfg_wr(caps.pci_cfg + 4, 1, 0);
	cfg_wr(caps.pci_cfg + 8, 4, offset);
	cfg_wr(caps.pci_cfg + 12, 4, size > 4 ? 4 : size);
	if (size == 8) {
		v = cfg_rd(caps.pci_cfg + 16, 4);
		cfg_wr(caps.pci_cfg + 8, 4, offset + 4);
		return v | (uint64_t)cfg_rd(caps.pci_cfg + 16, 4) << 32;
	}
	return cfg_rd(caps.pci_cfg + 16, size);
}

static void
sb_write(uint32_t offset, unsigned size, uint32_t value)
{
	cfg_wr(caps.pci_cfg + 4, 1, 0);
	cfg_wr(caps.pci_cfg + 8, 4, offset);
	cfg_wr(caps.pci_cfg + 12, 4, size);
	cfg_wr(caps.pci_cfg + 16, size, value);
}

static void
test_seabios_window(void)
{
	uint32_t c;

	setup();
	c = caps.common_off;
	cfg_wr(PCI_BAR0, 4, 0);
	cfg_wr(PCI_BAR0 + 4, 4, 0x10);
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ(dev->regions[0].base, 0x1000000000ull);
	/* vp_reset, ACK | DRIVER, features, FEATURES_OK. */
	sb_write(c + C_STATUS, 1, 0);
	(void)sb_read(caps.isr_off, 1);
	sb_write(c + C_STATUS, 1, S_ACK | S_DRIVER);
	sb_write(c + C_DFSELECT, 4, 1);
	CHECK_EQ(sb_read(c + C_DF, 4) & 1, 1); /* VERSION_1 */
	sb_write(c + C_GFSELECT, 4, 0);
	sb_write(c + C_GF, 4, 0);
	sb_write(c + C_GFSELECT, 4, 1);
	sb_write(c + C_GF, 4, 1);
	sb_write(c + C_STATUS, 1, S_NEGOTIATED);
	CHECK_EQ(sb_read(c + C_STATUS, 1), S_NEGOTIATED);
	/* vp_find_vq: queue 0, its rings, enabled. */
	sb_write(c + C_Q_SELECT, 2, 0);
	CHECK_EQ(sb_read(c + C_Q_SIZE, 2), 8);
	sb_write(c + C_Q_SIZE, 2, QSIZE);
	CHECK_EQ(sb_read(c + C_Q_ENABLE, 2), 0);
	sb_write(c + C_Q_DESC, 4, DESC_GPA);
	sb_write(c + C_Q_DESC + 4, 4, 0);
	sb_write(c + C_Q_DRIVER, 4, AVAIL_GPA);
	sb_write(c + C_Q_DRIVER + 4, 4, 0);
	sb_write(c + C_Q_DEVICE, 4, USED_GPA);
	sb_write(c + C_Q_DEVICE + 4, 4, 0);
	sb_write(c + C_Q_ENABLE, 2, 1);
	CHECK_EQ(sb_read(c + C_Q_DESC, 8), DESC_GPA);
	CHECK_EQ(sb_read(c + C_Q_NOFF, 2), 0);
	sb_write(c + C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	CHECK_EQ(sb_read(caps.device_off, 8), 0x0807060504030201ull);
	/* A request, its notification, the ISR SeaBIOS polls. */
	make_available(0);
	sb_write(caps.notify_off, 2, 0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK_EQ(get16(USED_GPA + 2), 1);
	CHECK_EQ(sb_read(caps.isr_off, 1), 1);
	CHECK_EQ(sb_read(caps.isr_off, 1), 0);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	teardown();
}

static void
test_reset(void)
{
	unsigned resets;

	setup();
	msix_enable(true);
	msix_program(0);
	c_wr(C_MSIX, 2, 0);
	bring_up(0);
	c_wr(C_Q_SELECT, 2, 0);
	c_wr(C_Q_MSIX, 2, 1);
	c_wr(C_DFSELECT, 4, 1);
	c_wr(C_GFSELECT, 4, 1);
	msix_enable(false);
	virtio_config_changed(&toy->vd);
	CHECK(f.intx_level[SLOT][0]);
	/* device_status 0: the core, the selectors, the ISR, the line. */
	resets = rec.resets;
	c_wr(C_STATUS, 1, 0);
	CHECK_EQ(rec.resets, resets + 1);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	CHECK(!f.intx_level[SLOT][0]);
	CHECK_EQ(isr_rd(), 0);
	CHECK_EQ(c_rd(C_DFSELECT, 4), 0);
	CHECK_EQ(c_rd(C_GFSELECT, 4), 0);
	CHECK_EQ(c_rd(C_Q_SELECT, 2), 0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK_EQ(c_rd(C_Q_SIZE, 2), 8);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	CHECK_EQ(c_rd(C_MSIX, 2), NO_VECTOR);
	CHECK_EQ(c_rd(C_Q_DESC, 8), 0);
	CHECK_EQ(f.maps_held, 0);
	/* The MSI-X table is the function's: a device reset keeps it. */
	CHECK_EQ(bar_rd(msix_table_off(), 4), 0xfee00000u);

	/* The transport's PCI-level reset: the core and the function. */
	cfg_wr(PCI_BAR0, 4, (uint32_t)BAR_GPA);
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ(dev->regions[0].base, BAR_GPA);
	bring_up(1);
	msix_enable(true);
	virtio_config_changed(&toy->vd);
	resets = rec.resets;
	dev->ops->reset(dev);
	CHECK_EQ(rec.resets, resets + 1);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	c_wr(C_Q_SELECT, 2, 1);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(cfg_rd(PCI_COMMAND, 2), 0);
	CHECK_EQ(dev->regions[0].size, 0);
	CHECK_EQ(cfg_rd(caps.msix + 2, 2) & 0xc000, 0);
	CHECK_EQ(bar_rd(msix_table_off(), 4), 0);
	CHECK_EQ(bar_rd(msix_table_off() + 12, 4), 1); /* masked */
	CHECK(!f.intx_level[SLOT][0]);
	/* The device works again after it. */
	CHECK(negotiate(V1));
	program_queue(0);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 1);
	teardown();
}

/* A stand-in for the core's grant DMA table. */
static const struct device_services *
fake_grant_services(void *opaque)
{
	struct fake_services *fs = opaque;

	return &fs->svc;
}

/* `dma: grant` on PCI: ACCESS_PLATFORM offered and negotiable. */
static void
test_grant(void)
{
	static const struct cfg_extra_key dma_key = VIRTIO_CFG_EXTRA_KEYS;
	struct cfg_device c = pci_cfg();
	const struct device_services *dma;

	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	c.extra[0] = (struct cfg_extra_value){
		.name = dma_key.name,
		.type = CFG_EXTRA_ENUM,
		.num = 1, /* grant */
		.set = true,
	};
	c.extra_count = 1;
	CHECK(virtio_cfg_grant(&c));
	CHECK(virtio_dma_services(&c, &f.svc) == NULL); /* no grants yet */
	f.svc.grant_services = fake_grant_services;
	dma = virtio_dma_services(&c, &f.svc);
	CHECK(dma != NULL);
	if (!dma)
		abort();
	setup_with(toy_new_id(TOY_ID, dma, virtio_cfg_grant(&c)));
	c_wr(C_DFSELECT, 4, 1);
	CHECK_EQ(c_rd(C_DF, 4), 3); /* VERSION_1 | ACCESS_PLATFORM */
	CHECK(negotiate(V1 | (1ull << VIRTIO_F_ACCESS_PLATFORM)));
	CHECK(virtio_has_feature(&toy->vd, VIRTIO_F_ACCESS_PLATFORM));
	program_queue(0);
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	make_available(0);
	kick(0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	teardown();
}

/* The largest device: 32 queues, 33 vectors, the last one works. */
static void
test_many_queues(void)
{
	const unsigned last = VIRTIO_QUEUES_MAX - 1;

	memset(&rec, 0, sizeof(rec));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	toy_num_queues = VIRTIO_QUEUES_MAX;
	setup_with(toy_new());
	toy_num_queues = NQUEUES;
	CHECK_EQ(c_rd(C_NUMQ, 2), VIRTIO_QUEUES_MAX);
	CHECK_EQ(cfg_rd(caps.msix + 2, 2) & 0x7ff, VIRTIO_QUEUES_MAX);
	CHECK(caps.notify_len >= last * caps.mult + 2);
	CHECK(negotiate(V1));
	msix_enable(true);
	msix_program(VIRTIO_QUEUES_MAX);
	c_wr(C_Q_SELECT, 2, last);
	c_wr(C_Q_MSIX, 2, VIRTIO_QUEUES_MAX + 1);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), NO_VECTOR);
	c_wr(C_Q_MSIX, 2, VIRTIO_QUEUES_MAX);
	CHECK_EQ(c_rd(C_Q_MSIX, 2), VIRTIO_QUEUES_MAX);
	program_queue(last);
	CHECK_EQ(c_rd(C_Q_ENABLE, 2), 1);
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	make_available(last);
	kick(last);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[last], 1);
	CHECK_EQ(f.msi_count, 1);
	CHECK_EQ(f.last_msi_data, 0x40 + VIRTIO_QUEUES_MAX);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	teardown();
}

/*
 * Linux's own sequence, from vp_modern_probe to virtio_dev_remove: not
 * one access of it may be refused.
 */
static void
test_linux_sequence(void)
{
	uint64_t features, addr[NQUEUES];
	uint8_t gen;
	uint64_t cfg8;

	setup();
	/* vp_modern_probe: 1040 + id, the structures (walk_caps). */
	CHECK_EQ(cfg_rd(PCI_DEVICE_ID, 2) - 0x1040, TOY_ID);
	/* Reset, then wait for the status to read 0. */
	c_wr(C_STATUS, 1, 0);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	c_wr(C_STATUS, 1, S_ACK);
	c_wr(C_STATUS, 1, S_ACK | S_DRIVER);
	c_wr(C_DFSELECT, 4, 0);
	features = c_rd(C_DF, 4);
	c_wr(C_DFSELECT, 4, 1);
	features |= c_rd(C_DF, 4) << 32;
	features &= V1 | (1ull << VIRTIO_F_INDIRECT_DESC) |
		    (1ull << VIRTIO_F_EVENT_IDX) | (1ull << TOY_F_X);
	c_wr(C_GFSELECT, 4, 0);
	c_wr(C_GF, 4, (uint32_t)features);
	c_wr(C_GFSELECT, 4, 1);
	c_wr(C_GF, 4, (uint32_t)(features >> 32));
	c_wr(C_STATUS, 1, S_NEGOTIATED);
	CHECK(c_rd(C_STATUS, 1) & S_FEATURES_OK);
	/* pci_alloc_irq_vectors: enabled under the function mask, every
	 * entry written masked, then the function mask cleared. */
	cfg_wr(caps.msix + 2, 2, 0xc000);
	for (unsigned v = 0; v <= NQUEUES; v++) {
		msix_program(v);
		msix_mask(v, true);
	}
	cfg_wr(caps.msix + 2, 2, 0x8000);
	/* vp_find_vqs_msix: the config vector, then each queue. */
	c_wr(C_MSIX, 2, 0);
	CHECK_EQ(c_rd(C_MSIX, 2), 0);
	for (unsigned q = 0; q < NQUEUES; q++) {
		c_wr(C_Q_SELECT, 2, q);
		CHECK_EQ(c_rd(C_Q_SIZE, 2), 8);
		CHECK_EQ(c_rd(C_Q_ENABLE, 2), 0);
		c_wr(C_Q_SIZE, 2, QSIZE);
		c_wr(C_Q_DESC, 4, DESC_GPA + 0x3000 * q);
		c_wr(C_Q_DESC + 4, 4, 0);
		c_wr(C_Q_DRIVER, 4, AVAIL_GPA + 0x3000 * q);
		c_wr(C_Q_DRIVER + 4, 4, 0);
		c_wr(C_Q_DEVICE, 4, USED_GPA + 0x3000 * q);
		c_wr(C_Q_DEVICE + 4, 4, 0);
		addr[q] = caps.notify_off + c_rd(C_Q_NOFF, 2) * caps.mult;
		c_wr(C_Q_MSIX, 2, q + 1);
		CHECK_EQ(c_rd(C_Q_MSIX, 2), q + 1);
	}
	for (unsigned q = 0; q < NQUEUES; q++) {
		c_wr(C_Q_SELECT, 2, q);
		c_wr(C_Q_ENABLE, 2, 1);
	}
	/* request_irq unmasks the entries, then DRIVER_OK. */
	for (unsigned v = 0; v <= NQUEUES; v++)
		msix_mask(v, false);
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	/* A request on queue 1, its interrupt on vector 2. */
	make_available(1);
	bar_wr(addr[1], 2, 1);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[1], 1);
	CHECK_EQ(f.msi_count, 1);
	CHECK_EQ(f.last_msi_data, 0x42);
	/* virtio_cread: generation, the bytes, the generation again. */
	do {
		gen = (uint8_t)c_rd(C_CFGGEN, 1);
		cfg8 = bar_rd(caps.device_off, 4) |
		       bar_rd(caps.device_off + 4, 4) << 32;
	} while (gen != (uint8_t)c_rd(C_CFGGEN, 1));
	CHECK_EQ(cfg8, 0x0807060504030201ull);
	/* Removal: reset, then every vector unmapped, MSI-X off. */
	c_wr(C_STATUS, 1, 0);
	CHECK_EQ(c_rd(C_STATUS, 1), 0);
	for (unsigned q = 0; q < NQUEUES; q++) {
		c_wr(C_Q_SELECT, 2, q);
		c_wr(C_Q_MSIX, 2, NO_VECTOR);
	}
	c_wr(C_MSIX, 2, NO_VECTOR);
	cfg_wr(caps.msix + 2, 2, 0);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(dev->stats.bad_accesses, 0);
	CHECK_EQ(toy->vd.stats.bad_queue_writes, 0);
	CHECK_EQ(toy->vd.stats.bad_status_writes, 0);
	teardown();
}

/* ---- the same through the bus, as the ioreq core dispatches ---- */

static struct bus bus;
static int (*fake_region_changed)(void *, struct device *, unsigned,
				  const struct device_region *);

/* What ioreq/ does on a BAR move: drop the old entry, add the new. */
static int
core_region_changed(void *opaque, struct device *d, unsigned region,
		    const struct device_region *old)
{
	(void)fake_region_changed(opaque, d, region, old);
	if (old && old->size)
		(void)bus_remove(&bus, old->space, old->base, d, region);
	if (!d->regions[region].size)
		return 0;
	return bus_add(&bus, d, region);
}

static uint32_t
bcfg_rd(unsigned offset, unsigned size)
{
	return bus_config_read(&bus, DEVICE_PCI_SBDF(0, SLOT, 0), offset, size);
}

static void
bcfg_wr(unsigned offset, unsigned size, uint32_t value)
{
	bus_config_write(&bus, DEVICE_PCI_SBDF(0, SLOT, 0), offset, size,
			 value);
}

static uint64_t
mmio_rd(uint64_t gpa, unsigned size)
{
	return bus_read(&bus, BUS_SPACE_MMIO, gpa, size);
}

static void
mmio_wr(uint64_t gpa, unsigned size, uint64_t value)
{
	bus_write(&bus, BUS_SPACE_MMIO, gpa, size, value);
}

/*
 * Firmware sizes and places BAR0 through configuration cycles, the
 * driver works at the BAR's address, the guest moves the BAR: the old
 * address answers nothing, the new one everything.
 */
static void
test_through_bus(void)
{
	const uint64_t moved = 0x10e0000000ull;
	uint64_t common, size;
	uint32_t lo;

	setup();
	bus_init(&bus);
	fake_region_changed = f.svc.region_changed;
	f.svc.region_changed = core_region_changed;
	CHECK_EQ(bus_add_pci(&bus, dev), 0);
	CHECK_EQ(bcfg_rd(PCI_VENDOR_ID, 4), (0x1040u + TOY_ID) << 16 | 0x1af4);
	bcfg_wr(PCI_BAR0, 4, 0xffffffffu);
	bcfg_wr(PCI_BAR0 + 4, 4, 0xffffffffu);
	lo = bcfg_rd(PCI_BAR0, 4);
	size = ~((uint64_t)bcfg_rd(PCI_BAR0 + 4, 4) << 32 | (lo & ~0xfu)) + 1;
	CHECK(size >= 0x1000 && (size & (size - 1)) == 0);
	bcfg_wr(PCI_BAR0, 4, (uint32_t)BAR_GPA);
	bcfg_wr(PCI_BAR0 + 4, 4, 0);
	bcfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	common = BAR_GPA + caps.common_off;
	CHECK_EQ(mmio_rd(common + C_NUMQ, 2), NQUEUES);
	CHECK_EQ(mmio_rd(BAR_GPA + caps.device_off, 8), 0x0807060504030201ull);
	/* Up through the bus: features, queue 0, DRIVER_OK. */
	mmio_wr(common + C_STATUS, 1, S_ACK | S_DRIVER);
	mmio_wr(common + C_GFSELECT, 4, 1);
	mmio_wr(common + C_GF, 4, 1);
	mmio_wr(common + C_STATUS, 1, S_NEGOTIATED);
	CHECK_EQ(mmio_rd(common + C_STATUS, 1), S_NEGOTIATED);
	mmio_wr(common + C_Q_SIZE, 2, QSIZE);
	mmio_wr(common + C_Q_DESC, 4, DESC_GPA);
	mmio_wr(common + C_Q_DRIVER, 4, AVAIL_GPA);
	mmio_wr(common + C_Q_DEVICE, 4, USED_GPA);
	mmio_wr(common + C_Q_ENABLE, 2, 1);
	mmio_wr(common + C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	fake_services_answered(&f);
	make_available(0);
	mmio_wr(BAR_GPA + caps.notify_off, 2, 0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 1);
	CHECK(f.intx_level[SLOT][0]);
	CHECK_EQ(mmio_rd(BAR_GPA + caps.isr_off, 1), 1);
	CHECK(!f.intx_level[SLOT][0]);
	/* The guest moves BAR0 above 4 GiB. */
	bcfg_wr(PCI_BAR0 + 4, 4, (uint32_t)(moved >> 32));
	CHECK_EQ(dev->regions[0].base, moved);
	CHECK_EQ(mmio_rd(common + C_NUMQ, 2), 0xffff);
	CHECK_EQ(mmio_rd(moved + caps.common_off + C_NUMQ, 2), NQUEUES);
	CHECK_EQ(mmio_rd(moved + caps.common_off + C_STATUS, 1),
		 S_NEGOTIATED | S_DRIVER_OK);
	make_available(0);
	mmio_wr(moved + caps.notify_off, 2, 0);
	fake_services_answered(&f);
	CHECK_EQ(rec.pushed[0], 2);
	/* Decode off: nothing answers, the window still does. */
	bcfg_wr(PCI_COMMAND, 2, 0);
	CHECK_EQ(mmio_rd(moved + caps.common_off + C_NUMQ, 2), 0xffff);
	bcfg_wr(caps.pci_cfg + 4, 1, 0);
	bcfg_wr(caps.pci_cfg + 8, 4, caps.common_off + C_NUMQ);
	bcfg_wr(caps.pci_cfg + 12, 4, 2);
	CHECK_EQ(bcfg_rd(caps.pci_cfg + 16, 2), NQUEUES);
	CHECK(bus.unclaimed >= 2);
	teardown();
	bus_fini(&bus);
}

/* xorshift64*: the same hostile driver on every run. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

/* Mostly small values (addresses inside guest RAM), sometimes anything. */
static uint64_t
rnd_value(void)
{
	static const uint64_t masks[] = { 0xff, 0xffff, 0xfffff, UINT64_MAX };

	return rnd() & masks[rnd() % 4];
}

/* Mostly near a structure's start, sometimes anywhere in the BAR. */
static uint64_t
rnd_bar_offset(void)
{
	if (rnd() % 8 == 0)
		return rnd() % 0x8000;
	return (rnd() % 8) * 0x1000 + rnd() % 0x40;
}

/* Do the registers still say what the spec allows? */
static unsigned
invariants_broken(void)
{
	uint64_t size = c_rd(C_Q_SIZE, 2), cv = c_rd(C_MSIX, 2);
	uint64_t qv = c_rd(C_Q_MSIX, 2), sel = c_rd(C_Q_SELECT, 2);
	unsigned broken = 0;

	broken += size > 8 || (size & (size - 1)) != 0;
	broken += sel >= NQUEUES && size != 0;
	broken += cv != NO_VECTOR && cv > NQUEUES;
	broken += qv != NO_VECTOR && qv > NQUEUES;
	broken += c_rd(C_NUMQ, 2) != NQUEUES;
	broken += f.maps_held > 3 * NQUEUES;
	return broken;
}

/*
 * A well-behaved bring-up, from which the hostile driver departs; false
 * if the device refused it.
 */
static bool
random_bring_up(void)
{
	memset(f.mem + DESC_GPA, 0, 0x3000 * NQUEUES);
	if (!negotiate(V1 | (1ull << VIRTIO_F_EVENT_IDX)))
		return false;
	msix_enable(rnd() % 2);
	for (unsigned v = 0; v <= NQUEUES; v++)
		msix_program(v);
	c_wr(C_MSIX, 2, rnd() % 4);
	for (unsigned q = 0; q < NQUEUES; q++) {
		program_queue(q);
		c_wr(C_Q_MSIX, 2, rnd() % 4);
	}
	c_wr(C_STATUS, 1, S_NEGOTIATED | S_DRIVER_OK);
	return c_rd(C_STATUS, 1) == (S_NEGOTIATED | S_DRIVER_OK);
}

/* Tallies of the random driver. */
struct random_tally {
	unsigned isr_bad;   /* ISR bits beyond 0 and 1 */
	unsigned bring_ups; /* well-behaved bring-ups */
	unsigned refused;   /* ... the device refused */
};

/* One hostile step. */
static void
random_step(struct random_tally *t)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const struct {
		unsigned offset, size;
	} fields[] = {
		{ C_DFSELECT, 4 }, { C_GFSELECT, 4 }, { C_GF, 4 },
		{ C_MSIX, 2 },	   { C_STATUS, 1 },   { C_Q_SELECT, 2 },
		{ C_Q_SIZE, 2 },   { C_Q_MSIX, 2 },   { C_Q_ENABLE, 2 },
		{ C_Q_DESC, 8 },   { C_Q_DRIVER, 4 }, { C_Q_DEVICE + 4, 4 },
	};
	unsigned size = sizes[rnd() % 4], k;

	switch (rnd() % 16) {
	case 0:
	case 1:
	case 2:
		bar_wr(rnd_bar_offset(), size, rnd_value());
		break;
	case 3:
	case 4:
		(void)bar_rd(rnd_bar_offset(), size);
		break;
	case 5:
		cfg_wr((unsigned)(rnd() % 0x100), size == 8 ? 4 : size,
		       (uint32_t)rnd_value());
		break;
	case 6:
		(void)cfg_rd((unsigned)(rnd() % 0x100), size == 8 ? 4 : size);
		break;
	case 7:
		t->isr_bad += (isr_rd() & ~3u) != 0;
		break;
	case 8:
	case 9:
		kick((unsigned)(rnd() % (NQUEUES + 1)));
		break;
	case 10:
		make_available((unsigned)(rnd() % NQUEUES));
		break;
	case 11:
	case 12:
		k = (unsigned)(rnd() % (sizeof(fields) / sizeof(fields[0])));
		c_wr(fields[k].offset, fields[k].size, rnd_value());
		break;
	case 13:
		virtio_config_changed(&toy->vd);
		break;
	case 14:
		if (rnd() % 16 == 0) {
			t->bring_ups++;
			t->refused += !random_bring_up();
		}
		break;
	default:
		fake_services_answered(&f);
		break;
	}
}

/*
 * A driver that brings the device up and then writes random values at
 * random widths to random places of BAR0 and configuration space, over
 * random guest RAM: nothing may crash (ASan and UBSan watch), the
 * registers keep their rules, the device is never served inside an
 * access, and the device still gets work done in between.
 */
static void
test_random_hostile(void)
{
	struct random_tally t = { 0 };
	unsigned broken = 0;

	setup();
	for (size_t i = 0; i < MEM_SIZE; i++)
		f.mem[i] = (uint8_t)rnd();
	CHECK(random_bring_up());
	for (unsigned i = 0; i < 200000; i++) {
		random_step(&t);
		if (i % 50000 == 49999)
			dev->ops->reset(dev);
		broken += invariants_broken();
	}
	fake_services_answered(&f);
	CHECK_EQ(broken, 0);
	CHECK_EQ(t.isr_bad, 0);
	CHECK(t.bring_ups > 100);
	CHECK_EQ(t.refused, 0);
	CHECK(toy->vd.stats.kicks > 1000);
	CHECK(rec.pushed[0] + rec.pushed[1] > 100);
	CHECK(toy->vd.stats.needs_reset > 0);
	CHECK(f.msi_count > 0);
	CHECK(f.intx_calls > 0);
	CHECK(dev->stats.bad_accesses > 1000);
	teardown();
}

struct stats_seen {
	uint64_t kicks, notify_bad, no_vector, refused, window_bad, msi_sent;
	uint64_t enable_refused;
	unsigned names;
};

static void
stats_emit(void *ctx, const char *name, uint64_t value)
{
	struct stats_seen *s = ctx;

	s->names++;
	if (strcmp(name, "virtio_kicks") == 0)
		s->kicks = value;
	if (strcmp(name, "pci_notify_bad") == 0)
		s->notify_bad = value;
	if (strcmp(name, "pci_irq_no_vector") == 0)
		s->no_vector = value;
	if (strcmp(name, "pci_vector_refused") == 0)
		s->refused = value;
	if (strcmp(name, "pci_cfg_window_bad") == 0)
		s->window_bad = value;
	if (strcmp(name, "pci_msi_sent") == 0)
		s->msi_sent = value;
	if (strcmp(name, "pci_queue_enable_refused") == 0)
		s->enable_refused = value;
}

static void
test_stats(void)
{
	struct stats_seen seen = { 0 };
	struct device_stats_writer w = { .emit = stats_emit, .ctx = &seen };

	setup();
	msix_enable(true);
	msix_program(0);
	bring_up(0);
	kick(0);
	kick(1);
	bar_wr(caps.notify_off + (uint64_t)NQUEUES * caps.mult, 2, 0);
	virtio_config_changed(&toy->vd); /* NO_VECTOR */
	c_wr(C_MSIX, 2, 9);		 /* refused */
	c_wr(C_MSIX, 2, 0);
	virtio_config_changed(&toy->vd); /* vector 0 */
	cfg_wr(caps.pci_cfg + 12, 4, 3);
	(void)cfg_rd(caps.pci_cfg + 16, 4);
	c_wr(C_Q_ENABLE, 2, 0);
	device_emit_stats(dev, &w);
	CHECK_EQ(seen.kicks, 2);
	CHECK_EQ(seen.notify_bad, 1);
	CHECK_EQ(seen.no_vector, 1);
	CHECK_EQ(seen.refused, 1);
	CHECK_EQ(seen.window_bad, 1);
	CHECK_EQ(seen.msi_sent, 1);
	CHECK_EQ(seen.enable_refused, 1);
	CHECK(seen.names > 20);
	teardown();
}

int
main(void)
{
	test_create();
	test_header();
	test_capabilities();
	test_bar();
	test_common_reset_values();
	test_common_hostile_widths();
	test_device_config();
	test_no_device_config();
	test_features();
	test_queue_programming();
	test_notify();
	test_msix();
	test_intx_isr();
	test_pci_cfg_window();
	test_pci_cfg_window_isr_notify();
	test_seabios_window();
	test_reset();
	test_grant();
	test_many_queues();
	test_linux_sequence();
	test_through_bus();
	test_random_hostile();
	test_stats();
	return test_finish();
}
