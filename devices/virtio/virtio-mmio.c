/*
 * The virtio-mmio transport, version 2 (virtio 1.2, section 4.2.2), for
 * guests that find their devices by address and interrupt rather than on
 * a PCI bus: PVH guests (`virtio_mmio.device=512@BASE:IRQ` on Linux's
 * command line, or ACPI) and Arm guests (a device tree node).
 *
 * One window of VIRTIO_MMIO_WINDOW_SIZE bytes: 32-bit registers at
 * 0x000-0x0ff, the device configuration at 0x100.  The register
 * semantics are the virtio core's (virtio.h); this file maps offsets
 * onto it, keeps the selectors and InterruptStatus, and drives one level
 * interrupt that is asserted while InterruptStatus is not 0.
 *
 * A driver that breaks the rules of 4.2.2.2 (a register accessed at a
 * width other than 32 bits or unaligned, a read of a write-only register
 * or a write of a read-only one, an offset the table does not name) gets
 * 0 on a read and has its write dropped; each is counted in
 * dev->stats.bad_accesses and logged, rate-limited.
 *
 * Left out: the legacy interface (version 1: GuestPageSize,
 * QueuePFN), shared memory regions (every SHMSel reads a length and base
 * of all-ones, "no such region"), VIRTIO_F_RING_RESET (QueueReset is not
 * offered, so its offset is reserved) and VIRTIO_F_NOTIFICATION_DATA
 * (QueueNotify carries a queue index only).
 */
#include "devices/virtio/virtio-mmio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/range.h"

/*
 * Register map (4.2.2, table "MMIO Device Register Layout"); R is read
 * only, W write only, RW both.
 */
#define VMMIO_MAGIC_VALUE	  0x000 /* R  "virt" */
#define VMMIO_VERSION		  0x004 /* R  2 */
#define VMMIO_DEVICE_ID		  0x008 /* R  VIRTIO_ID_* */
#define VMMIO_VENDOR_ID		  0x00c /* R */
#define VMMIO_DEVICE_FEATURES	  0x010 /* R  word DeviceFeaturesSel */
#define VMMIO_DEVICE_FEATURES_SEL 0x014 /* W */
#define VMMIO_DRIVER_FEATURES	  0x020 /* W  word DriverFeaturesSel */
#define VMMIO_DRIVER_FEATURES_SEL 0x024 /* W */
#define VMMIO_QUEUE_SEL		  0x030 /* W */
#define VMMIO_QUEUE_NUM_MAX	  0x034 /* R  0: no such queue */
#define VMMIO_QUEUE_NUM		  0x038 /* W */
#define VMMIO_QUEUE_READY	  0x044 /* RW */
#define VMMIO_QUEUE_NOTIFY	  0x050 /* W  queue index */
#define VMMIO_INTERRUPT_STATUS	  0x060 /* R */
#define VMMIO_INTERRUPT_ACK	  0x064 /* W  bits to clear */
#define VMMIO_STATUS		  0x070 /* RW 0 resets */
#define VMMIO_QUEUE_DESC_LOW	  0x080 /* W */
#define VMMIO_QUEUE_DESC_HIGH	  0x084 /* W */
#define VMMIO_QUEUE_DRIVER_LOW	  0x090 /* W */
#define VMMIO_QUEUE_DRIVER_HIGH	  0x094 /* W */
#define VMMIO_QUEUE_DEVICE_LOW	  0x0a0 /* W */
#define VMMIO_QUEUE_DEVICE_HIGH	  0x0a4 /* W */
#define VMMIO_SHM_SEL		  0x0ac /* W */
#define VMMIO_SHM_LEN_LOW	  0x0b0 /* R */
#define VMMIO_SHM_LEN_HIGH	  0x0b4 /* R */
#define VMMIO_SHM_BASE_LOW	  0x0b8 /* R */
#define VMMIO_SHM_BASE_HIGH	  0x0bc /* R */
#define VMMIO_CONFIG_GENERATION	  0x0fc /* R */
#define VMMIO_CONFIG		  0x100 /* device configuration */

#define VMMIO_MAGIC	     0x74726976u /* "virt", little-endian */
#define VMMIO_VERSION_MODERN 2u
/* QEMU's ("QEMU"): drivers do not look at it, tools print it. */
#define VMMIO_VENDOR 0x554d4551u

/* InterruptStatus bits. */
#define VMMIO_INT_VRING	 0x1u /* used buffer notification */
#define VMMIO_INT_CONFIG 0x2u /* configuration change notification */

/* The highest ISA line; lines above it go through set_irq_level. */
#define VMMIO_ISA_IRQ_LAST 15u

struct virtio_mmio {
	struct device dev;
	struct virtio_dev *vd; /* owned */
	unsigned irq;	       /* cfg `irq` */

	uint32_t device_features_sel; /* DeviceFeaturesSel, W */
	uint32_t driver_features_sel; /* DriverFeaturesSel, W */
	uint32_t queue_sel;	      /* QueueSel, W */
	uint32_t shm_sel;	      /* SHMSel, W (no regions exist) */
	uint32_t interrupt_status;    /* InterruptStatus R, InterruptACK W */
	bool line;		      /* the level last driven */

	uint64_t irq_errors; /* set_isa_irq / set_irq_level failures */
	struct log_ratelimit rl;
};

static struct virtio_mmio *
to_mmio(struct device *dev)
{
	return container_of(dev, struct virtio_mmio, dev);
}

/* Drive the line to InterruptStatus != 0, only when that changes. */
static void
update_line(struct virtio_mmio *m)
{
	const struct device_services *svc = m->dev.svc;
	bool level = m->interrupt_status != 0;
	int r = -EOPNOTSUPP;

	if (level == m->line)
		return;
	m->line = level;
	if (level)
		m->dev.stats.irq_raises++;
	if (m->irq <= VMMIO_ISA_IRQ_LAST && svc->set_isa_irq)
		r = svc->set_isa_irq(svc->opaque, m->irq, level);
	else if (m->irq > VMMIO_ISA_IRQ_LAST && svc->set_irq_level)
		r = svc->set_irq_level(svc->opaque, m->irq, level);
	if (r < 0) {
		m->irq_errors++;
		log_ratelimited(&m->rl, LOG_LEVEL_WARNING,
				"%s: setting irq %u to %d failed: %s",
				m->dev.id, m->irq, level, strerror(-r));
	}
}

/* struct virtio_transport_ops.notify: one bit, one line. */
static void
mmio_notify(void *ctx, enum virtio_irq kind, unsigned q)
{
	struct virtio_mmio *m = ctx;

	(void)q;
	m->interrupt_status |= kind == VIRTIO_IRQ_CONFIG ? VMMIO_INT_CONFIG :
							   VMMIO_INT_VRING;
	update_line(m);
}

static const struct virtio_transport_ops mmio_transport_ops = {
	.notify = mmio_notify,
};

/*
 * What the transport itself holds back to power-on, after the core's
 * reset (4.2.2.1: InterruptStatus is cleared by a reset).
 */
static void
transport_reset(struct virtio_mmio *m)
{
	m->device_features_sel = 0;
	m->driver_features_sel = 0;
	m->queue_sel = 0;
	m->shm_sel = 0;
	m->interrupt_status = 0;
	update_line(m);
}

static void
bad_access(struct virtio_mmio *m, const char *what, uint64_t offset,
	   unsigned size)
{
	m->dev.stats.bad_accesses++;
	log_ratelimited(&m->rl, LOG_LEVEL_WARNING,
			"%s: %s at offset 0x%llx, size %u, ignoring", m->dev.id,
			what, (unsigned long long)offset, size);
}

/* A register read; false for an offset that is not a readable register. */
static bool
reg_read(struct virtio_mmio *m, unsigned offset, uint32_t *ret)
{
	struct virtio_dev *vd = m->vd;
	struct virtio_queue *vq = virtio_queue(vd, m->queue_sel);

	switch (offset) {
	case VMMIO_MAGIC_VALUE:
		*ret = VMMIO_MAGIC;
		return true;
	case VMMIO_VERSION:
		*ret = VMMIO_VERSION_MODERN;
		return true;
	case VMMIO_DEVICE_ID:
		*ret = vd->device_id;
		return true;
	case VMMIO_VENDOR_ID:
		*ret = VMMIO_VENDOR;
		return true;
	case VMMIO_DEVICE_FEATURES:
		*ret = virtio_device_features(vd, m->device_features_sel);
		return true;
	case VMMIO_QUEUE_NUM_MAX:
		*ret = vq ? vq->size_max : 0;
		return true;
	case VMMIO_QUEUE_READY:
		*ret = vq && vq->ready;
		return true;
	case VMMIO_INTERRUPT_STATUS:
		*ret = m->interrupt_status;
		return true;
	case VMMIO_STATUS:
		*ret = virtio_status(vd);
		return true;
	case VMMIO_SHM_LEN_LOW:
	case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW:
	case VMMIO_SHM_BASE_HIGH:
		/* 4.2.2.1: a region that does not exist has length -1. */
		*ret = 0xffffffffu;
		return true;
	case VMMIO_CONFIG_GENERATION:
		*ret = vd->config_generation;
		return true;
	default:
		return false;
	}
}

/* Which of the queue's three addresses, and which half of it. */
static void
set_addr_half(struct virtio_mmio *m, unsigned offset, uint32_t value)
{
	struct virtio_queue *vq = virtio_queue(m->vd, m->queue_sel);
	uint64_t *field, v;

	if (!vq) {
		uint64_t none = 0;

		/* Refused and counted by the core: no such queue. */
		virtio_queue_set_addr(m->vd, m->queue_sel, &none, value);
		return;
	}
	if (offset < VMMIO_QUEUE_DRIVER_LOW)
		field = &vq->desc_gpa;
	else if (offset < VMMIO_QUEUE_DEVICE_LOW)
		field = &vq->driver_gpa;
	else
		field = &vq->device_gpa;
	v = *field;
	if (offset & 4)
		v = (v & 0xffffffffull) | (uint64_t)value << 32;
	else
		v = (v & ~0xffffffffull) | value;
	virtio_queue_set_addr(m->vd, m->queue_sel, field, v);
}

static void
write_status(struct virtio_mmio *m, uint32_t value)
{
	if (value > 0xff) {
		bad_access(m, "status with bits above 7", VMMIO_STATUS, 4);
		return;
	}
	virtio_set_status(m->vd, (uint8_t)value);
	if (value == 0)
		transport_reset(m);
}

static void
write_queue_ready(struct virtio_mmio *m, uint32_t value)
{
	if (value > 1) {
		bad_access(m, "QueueReady neither 0 nor 1", VMMIO_QUEUE_READY,
			   4);
		return;
	}
	virtio_queue_set_ready(m->vd, m->queue_sel, value == 1);
}

static void
write_queue_num(struct virtio_mmio *m, uint32_t value)
{
	if (value > 0xffff) {
		bad_access(m, "QueueNum above 65535", VMMIO_QUEUE_NUM, 4);
		return;
	}
	virtio_queue_set_size(m->vd, m->queue_sel, (uint16_t)value);
}

/* A register write; false for an offset that is not a writable one. */
static bool
reg_write(struct virtio_mmio *m, unsigned offset, uint32_t value)
{
	switch (offset) {
	case VMMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = value;
		return true;
	case VMMIO_DRIVER_FEATURES:
		virtio_set_driver_features(m->vd, m->driver_features_sel,
					   value);
		return true;
	case VMMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = value;
		return true;
	case VMMIO_QUEUE_SEL:
		m->queue_sel = value;
		return true;
	case VMMIO_QUEUE_NUM:
		write_queue_num(m, value);
		return true;
	case VMMIO_QUEUE_READY:
		write_queue_ready(m, value);
		return true;
	case VMMIO_QUEUE_NOTIFY:
		/* Answered now, served from deferred work (virtio.h). */
		virtio_queue_kick(m->vd, value);
		return true;
	case VMMIO_INTERRUPT_ACK:
		m->interrupt_status &= ~value;
		update_line(m);
		return true;
	case VMMIO_STATUS:
		write_status(m, value);
		return true;
	case VMMIO_QUEUE_DESC_LOW:
	case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_DRIVER_LOW:
	case VMMIO_QUEUE_DRIVER_HIGH:
	case VMMIO_QUEUE_DEVICE_LOW:
	case VMMIO_QUEUE_DEVICE_HIGH:
		set_addr_half(m, offset, value);
		return true;
	case VMMIO_SHM_SEL:
		m->shm_sel = value;
		return true;
	default:
		return false;
	}
}

/* Device configuration at 0x100: 8 bytes are two 4-byte halves. */
static uint64_t
config_read(struct virtio_mmio *m, unsigned offset, unsigned size)
{
	if (size == 8)
		return virtio_config_read(m->vd, offset, 4) |
		       (uint64_t)virtio_config_read(m->vd, offset + 4, 4) << 32;
	return virtio_config_read(m->vd, offset, size);
}

static void
config_write(struct virtio_mmio *m, unsigned offset, unsigned size,
	     uint64_t value)
{
	if (size == 8) {
		virtio_config_write(m->vd, offset, 4, (uint32_t)value);
		virtio_config_write(m->vd, offset + 4, 4,
				    (uint32_t)(value >> 32));
		return;
	}
	virtio_config_write(m->vd, offset, size, (uint32_t)value);
}

/* Registers are 32 bits wide and aligned (4.2.2.2). */
static bool
reg_access_ok(uint64_t offset, unsigned size)
{
	return size == 4 && !(offset & 3);
}

static uint64_t
virtio_mmio_read(struct device *dev, unsigned region, uint64_t offset,
		 unsigned size)
{
	struct virtio_mmio *m = to_mmio(dev);
	uint32_t v;

	if (region != 0 || offset >= VIRTIO_MMIO_WINDOW_SIZE) {
		bad_access(m, "read outside the window", offset, size);
		return range_all_ones(size);
	}
	if (offset >= VMMIO_CONFIG)
		return config_read(m, (unsigned)(offset - VMMIO_CONFIG), size);
	if (!reg_access_ok(offset, size)) {
		bad_access(m, "register read not 32 bits wide and aligned",
			   offset, size);
		return 0;
	}
	if (!reg_read(m, (unsigned)offset, &v)) {
		bad_access(m, "read of a register that is not readable", offset,
			   size);
		return 0;
	}
	return v;
}

static void
virtio_mmio_write(struct device *dev, unsigned region, uint64_t offset,
		  unsigned size, uint64_t value)
{
	struct virtio_mmio *m = to_mmio(dev);

	if (region != 0 || offset >= VIRTIO_MMIO_WINDOW_SIZE) {
		bad_access(m, "write outside the window", offset, size);
		return;
	}
	if (offset >= VMMIO_CONFIG) {
		config_write(m, (unsigned)(offset - VMMIO_CONFIG), size, value);
		return;
	}
	if (!reg_access_ok(offset, size)) {
		bad_access(m, "register write not 32 bits wide and aligned",
			   offset, size);
		return;
	}
	if (!reg_write(m, (unsigned)offset, (uint32_t)value))
		bad_access(m, "write of a register that is not writable",
			   offset, size);
}

static void
virtio_mmio_reset(struct device *dev)
{
	struct virtio_mmio *m = to_mmio(dev);

	virtio_reset(m->vd);
	transport_reset(m);
}

static void
virtio_mmio_destroy(struct device *dev)
{
	struct virtio_mmio *m;

	if (!dev)
		return;
	m = to_mmio(dev);
	if (m->vd) {
		virtio_dev_fini(m->vd);
		if (m->vd->ops->destroy)
			m->vd->ops->destroy(m->vd);
	}
	free(m);
}

static void
virtio_mmio_stats(const struct device *dev, const struct device_stats_writer *w)
{
	const struct virtio_mmio *m = container_of(dev,
						   const struct virtio_mmio,
						   dev);

	virtio_emit_stats(m->vd, w);
	if (m->vd->ops->stats)
		m->vd->ops->stats(m->vd, w);
	device_stats_emit(w, "mmio_irq_errors", m->irq_errors);
}

/* The configured line: the guest cannot turn it off on this transport. */
static void
virtio_mmio_describe(const struct device *dev,
		     const struct device_info_writer *w)
{
	const struct virtio_mmio *m = container_of(dev,
						   const struct virtio_mmio,
						   dev);
	char irq[24];

	virtio_describe(m->vd, w);
	(void)snprintf(irq, sizeof(irq), "%s %u",
		       m->irq <= VMMIO_ISA_IRQ_LAST ? "isa" : "spi", m->irq);
	device_info_str(w, "interrupt", irq);
}

static int
virtio_mmio_chardev_attach(struct device *dev,
			   const struct cfg_backend *backend)
{
	return virtio_chardev_attach(to_mmio(dev)->vd, backend);
}

static int
virtio_mmio_blockdev_change(struct device *dev, const char *path, int read_only)
{
	return virtio_blockdev_change(to_mmio(dev)->vd, path, read_only);
}

static const struct device_ops virtio_mmio_ops = {
	.destroy = virtio_mmio_destroy,
	.reset = virtio_mmio_reset,
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
	.stats = virtio_mmio_stats,
	.describe = virtio_mmio_describe,
	.chardev_attach = virtio_mmio_chardev_attach,
	.blockdev_change = virtio_mmio_blockdev_change,
};

int
virtio_mmio_create(const struct cfg_device *cfg, const struct device_type *type,
		   const struct device_services *svc, struct virtio_dev *vd,
		   struct device **ret_dev)
{
	struct virtio_mmio *m;

	if (!cfg || !type || !svc || !vd || !vd->ops || !ret_dev ||
	    !(cfg->keys & CFG_KEY_MMIO) || !(cfg->keys & CFG_KEY_IRQ) ||
	    cfg->irq > VIRTIO_MMIO_IRQ_MAX ||
	    !range_fits(cfg->mmio, VIRTIO_MMIO_WINDOW_SIZE))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	device_init(&m->dev, type, &virtio_mmio_ops, cfg->id, svc);
	m->dev.regions[0] = (struct device_region){
		.space = BUS_SPACE_MMIO,
		.base = cfg->mmio,
		.size = VIRTIO_MMIO_WINDOW_SIZE,
		/* Every width reaches us: registers refuse all but 4,
		 * the configuration takes 1, 2, 4 and 8. */
		.access_sizes = DEVICE_ACCESS_ALL,
	};
	m->dev.region_count = 1;
	m->vd = vd;
	m->irq = cfg->irq;
	virtio_dev_set_transport(vd, &mmio_transport_ops, m);
	vd->dev = &m->dev;
	*ret_dev = &m->dev;
	return 0;
}
