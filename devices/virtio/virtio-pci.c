/*
 * The virtio-pci transport, modern interface only (virtio 1.2, section
 * 4.1), on the generic PCI function model (devices/pci.h): what Linux's
 * virtio_pci driver binds to as a "virtio 1.0" device.
 *
 * Identity (4.1.2): vendor 1af4, device 1040 + the virtio device id,
 * revision 1 (no transitional device), a class code per device type (as
 * QEMU's virtio-*-pci have them), INTA.  The subsystem is 1af4 and, again,
 * 1040 + the device id: QEMU gives a transitional device the bare device
 * id, but 4.1.2.1 asks a non-transitional one for 0x40 or more, so that
 * a legacy driver, which takes the subsystem id for the device type,
 * leaves it alone.
 *
 * One 64-bit memory BAR (BAR0) holds every structure, each in its own
 * 4 KiB page so that a guest can map them apart:
 *
 *	0x0000	common configuration (struct virtio_pci_common_cfg)
 *	0x1000	ISR status, one byte, read to clear
 *	0x2000	device configuration (config_len bytes, all-ones after)
 *	0x3000	notifications: queue q at q * VPCI_NOTIFY_MULTIPLIER
 *	0x4000	MSI-X table, num_queues + 1 entries
 *	0x5000	MSI-X pending bit array
 *
 * The BAR is not prefetchable, although QEMU marks its own so: reading
 * the ISR has a side effect, which a prefetchable range may not have.
 *
 * The configuration space carries, in this order, the vendor-specific
 * capabilities for the common, notify, ISR and device structures, the PCI
 * configuration access capability (4.1.4.9, a window onto BAR0 through
 * config space alone) and MSI-X with one vector for configuration changes
 * and one per queue.  The device structure is there even for a device
 * without configuration (virtio-rng), and is a whole page long, as
 * QEMU's: SeaBIOS takes a function without all four structures for a
 * legacy one, and Linux refuses (BUG_ON) a read past the length it was
 * given, while a read past config_len here is merely all-ones.
 *
 * Register semantics are the virtio core's (virtio.h); this file maps the
 * common configuration onto it, keeps the selectors and the ISR, and
 * delivers interrupts: the vector the driver assigned while MSI-X is
 * enabled (none for VIRTIO_MSI_NO_VECTOR; a masked vector becomes a
 * pending bit in the PCI model), otherwise the ISR bit and the INTx level,
 * which stays up until the driver reads the ISR.
 *
 * A driver that breaks the access rules of 4.1.3.1 (a common field not at
 * its natural width and offset, a 64-bit field other than whole or as an
 * aligned 32-bit half, a write to a read-only field, an offset past a
 * structure) reads all-ones and has its write dropped; each is counted in
 * dev->stats.bad_accesses and logged, rate-limited.
 *
 * Left out: the legacy interface (I/O BAR, device ids 1000-103f),
 * VIRTIO_F_NOTIFICATION_DATA (a notification's value is not looked at: the
 * address names the queue), VIRTIO_F_RING_RESET and
 * VIRTIO_F_NOTIF_CONFIG_DATA (so queue_notify_data and queue_reset do not
 * exist: the common structure ends at queue_device), shared memory
 * capabilities, and stopping the device when the driver clears
 * COMMAND.MASTER: the core has no state in which it holds back DMA
 * without telling the driver, and Linux resets the device before it
 * lets go of it (a guest that kexecs without that reset leaves its
 * queues served).
 */
#include "devices/virtio/virtio-pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/pci.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/range.h"

/* Identity (4.1.2.1). */
#define VPCI_VENDOR_ID	    0x1af4u
#define VPCI_DEVICE_ID_BASE 0x1040u
#define VPCI_DEVICE_ID_MAX  0x3fu /* Linux binds 1040-107f */
#define VPCI_REVISION	    1

/* BAR0 layout (see the top). */
#define VPCI_BAR	       0
#define VPCI_BAR_SIZE	       0x8000u
#define VPCI_PAGE_SIZE	       0x1000u
#define VPCI_COMMON_OFFSET     0x0000u
#define VPCI_ISR_OFFSET	       0x1000u
#define VPCI_DEVICE_OFFSET     0x2000u
#define VPCI_NOTIFY_OFFSET     0x3000u
#define VPCI_MSIX_TABLE_OFFSET 0x4000u
#define VPCI_MSIX_PBA_OFFSET   0x5000u
#define VPCI_NOTIFY_MULTIPLIER 4u

/* cfg_type of a virtio vendor capability (4.1.4). */
#define VPCI_CAP_COMMON_CFG 1
#define VPCI_CAP_NOTIFY_CFG 2
#define VPCI_CAP_ISR_CFG    3
#define VPCI_CAP_DEVICE_CFG 4
#define VPCI_CAP_PCI_CFG    5

/*
 * struct virtio_pci_cap, offsets from the capability start; the notify
 * capability adds notify_off_multiplier, the PCI configuration access
 * capability adds pci_cfg_data.
 */
#define CAP_LEN		     2	/* cap_len */
#define CAP_CFG_TYPE	     3	/* cfg_type */
#define CAP_BAR		     4	/* bar (RW in the access capability) */
#define CAP_ID		     5	/* id: 0, one of each type */
#define CAP_OFFSET	     8	/* le32 offset (RW in the access cap) */
#define CAP_LENGTH	     12 /* le32 length (RW in the access cap) */
#define CAP_SIZE	     16
#define CAP_NOTIFY_MULT	     16 /* le32 notify_off_multiplier */
#define CAP_NOTIFY_SIZE	     20
#define CAP_PCI_CFG_DATA     16 /* u8 pci_cfg_data[4] */
#define CAP_PCI_CFG_DATA_LEN 4
#define CAP_PCI_CFG_SIZE     20

/*
 * struct virtio_pci_common_cfg (4.1.4.3); R read-only, RW read-write.
 */
#define COMMON_DFSELECT	     0x00 /* RW 32 device_feature_select */
#define COMMON_DF	     0x04 /* R  32 device_feature */
#define COMMON_GFSELECT	     0x08 /* RW 32 driver_feature_select */
#define COMMON_GF	     0x0c /* RW 32 driver_feature */
#define COMMON_MSIX	     0x10 /* RW 16 config_msix_vector */
#define COMMON_NUMQ	     0x12 /* R  16 num_queues */
#define COMMON_STATUS	     0x14 /* RW 8  device_status, 0 resets */
#define COMMON_CFGGENERATION 0x15 /* R  8  config_generation */
#define COMMON_Q_SELECT	     0x16 /* RW 16 queue_select */
#define COMMON_Q_SIZE	     0x18 /* RW 16 queue_size, 0: no queue */
#define COMMON_Q_MSIX	     0x1a /* RW 16 queue_msix_vector */
#define COMMON_Q_ENABLE	     0x1c /* RW 16 queue_enable, 1 only */
#define COMMON_Q_NOFF	     0x1e /* R  16 queue_notify_off */
#define COMMON_Q_DESC	     0x20 /* RW 64 queue_desc */
#define COMMON_Q_DRIVER	     0x28 /* RW 64 queue_driver */
#define COMMON_Q_DEVICE	     0x30 /* RW 64 queue_device */
#define COMMON_SIZE	     0x38

/* ISR status bits (4.1.4.5). */
#define VPCI_ISR_QUEUE	0x1u
#define VPCI_ISR_CONFIG 0x2u

struct common_field {
	uint8_t offset;
	uint8_t size;
	bool writable;
};

static const struct common_field common_fields[] = {
	{ COMMON_DFSELECT, 4, true }, { COMMON_DF, 4, false },
	{ COMMON_GFSELECT, 4, true }, { COMMON_GF, 4, true },
	{ COMMON_MSIX, 2, true },     { COMMON_NUMQ, 2, false },
	{ COMMON_STATUS, 1, true },   { COMMON_CFGGENERATION, 1, false },
	{ COMMON_Q_SELECT, 2, true }, { COMMON_Q_SIZE, 2, true },
	{ COMMON_Q_MSIX, 2, true },   { COMMON_Q_ENABLE, 2, true },
	{ COMMON_Q_NOFF, 2, false },  { COMMON_Q_DESC, 8, true },
	{ COMMON_Q_DRIVER, 8, true }, { COMMON_Q_DEVICE, 8, true },
};

/* Transport counters, beyond the core's and the PCI model's. */
struct virtio_pci_stats {
	uint64_t notify_bad;	       /* notifications naming no queue */
	uint64_t irq_no_vector;	       /* interrupts dropped: NO_VECTOR */
	uint64_t vector_refused;       /* vectors beyond the table written */
	uint64_t cfg_window_bad;       /* pci_cfg_data with a bad window */
	uint64_t queue_enable_refused; /* queue_enable other than 1 */
};

struct virtio_pci {
	struct device dev;
	struct pci_function pf;
	struct virtio_dev *vd; /* owned once create succeeded */
	unsigned cfg_cap;      /* offset of the access capability */

	uint32_t device_feature_sel; /* device_feature_select, RW */
	uint32_t driver_feature_sel; /* driver_feature_select, RW */
	uint16_t queue_sel;	     /* queue_select, RW */
	uint8_t isr;		     /* ISR status, R (clears) */

	struct virtio_pci_stats stats;
	struct log_ratelimit rl;
};

static struct virtio_pci *
to_vpci(struct device *dev)
{
	return container_of(dev, struct virtio_pci, dev);
}

static void
put_le32(uint8_t *a, unsigned off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		a[off + i] = (uint8_t)(v >> (8 * i));
}

static void
bad_access(struct virtio_pci *p, const char *what, uint64_t offset,
	   unsigned size)
{
	p->dev.stats.bad_accesses++;
	log_ratelimited(&p->rl, LOG_LEVEL_WARNING,
			"%s: %s at offset 0x%llx, size %u, ignoring", p->dev.id,
			what, (unsigned long long)offset, size);
}

/* ---- interrupts ---- */

/* INTx follows the ISR: up while a bit is set (the PCI model gates it). */
static void
update_intx(struct virtio_pci *p)
{
	pci_set_irq(&p->pf, p->isr != 0);
}

/* struct virtio_transport_ops.notify */
static void
vpci_notify(void *ctx, enum virtio_irq kind, unsigned q)
{
	struct virtio_pci *p = ctx;
	struct virtio_dev *vd = p->vd;
	bool msix = pci_msix_enabled(&p->pf);
	uint16_t vector;

	if (kind == VIRTIO_IRQ_QUEUE && q >= vd->num_queues)
		return;
	/*
	 * 4.1.4.5.1: the configuration bit is set whatever the mechanism,
	 * the queue bit only without MSI-X.  INTx follows the ISR; the PCI
	 * model keeps it down while MSI-X is enabled.
	 */
	if (kind == VIRTIO_IRQ_CONFIG || !msix) {
		if (!p->isr && !msix)
			p->dev.stats.irq_raises++;
		p->isr |= kind == VIRTIO_IRQ_CONFIG ? VPCI_ISR_CONFIG :
						      VPCI_ISR_QUEUE;
		update_intx(p);
	}
	if (!msix)
		return;
	/* 4.1.5.3, 4.1.5.4: the vector the driver mapped, or nothing. */
	vector = kind == VIRTIO_IRQ_CONFIG ? vd->config_msix_vector :
					     vd->queues[q].msix_vector;
	if (vector == VIRTIO_MSI_NO_VECTOR) {
		p->stats.irq_no_vector++;
		return;
	}
	p->dev.stats.irq_raises++;
	(void)pci_msix_notify(&p->pf, vector);
}

static const struct virtio_transport_ops vpci_transport_ops = {
	.notify = vpci_notify,
};

/*
 * An MSI-X vector as the driver maps it (4.1.5.1.2): an entry of the
 * table, or NO_VECTOR, which is also what a vector beyond the table reads
 * back as, so that the driver sees the mapping failed.
 */
static uint16_t
map_vector(struct virtio_pci *p, uint16_t vector)
{
	if (vector == VIRTIO_MSI_NO_VECTOR || vector < p->pf.msix.vectors)
		return vector;
	p->stats.vector_refused++;
	log_ratelimited(&p->rl, LOG_LEVEL_WARNING,
			"%s: MSI-X vector %u beyond the table of %u, reading "
			"back NO_VECTOR",
			p->dev.id, (unsigned)vector, p->pf.msix.vectors);
	return VIRTIO_MSI_NO_VECTOR;
}

/*
 * What the transport holds, back to power-on after the core's reset: the
 * selectors and the ISR, and with it the INTx line.
 */
static void
transport_reset(struct virtio_pci *p)
{
	p->device_feature_sel = 0;
	p->driver_feature_sel = 0;
	p->queue_sel = 0;
	p->isr = 0;
	update_intx(p);
}

/* ---- common configuration ---- */

/*
 * The field [offset, offset + size) names: the whole field at its
 * natural width, or one aligned 32-bit half of a 64-bit field (4.1.3.1
 * asks drivers for halves; a whole 64-bit access costs nothing to take).
 * NULL for anything else.
 */
static const struct common_field *
common_field(uint64_t offset, unsigned size)
{
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]);
	     i++) {
		const struct common_field *f = &common_fields[i];

		if (offset == f->offset && size == f->size)
			return f;
		if (f->size == 8 && size == 4 &&
		    (offset == f->offset || offset == f->offset + 4u))
			return f;
	}
	return NULL;
}

/* Queue field at `offset` of the selected queue, NULL if there is none. */
static uint64_t *
queue_addr_field(struct virtio_queue *vq, unsigned offset)
{
	if (!vq)
		return NULL;
	switch (offset) {
	case COMMON_Q_DESC:
		return &vq->desc_gpa;
	case COMMON_Q_DRIVER:
		return &vq->driver_gpa;
	default:
		return &vq->device_gpa;
	}
}

/* The whole value of field `offset` (read side). */
static uint64_t
common_value(struct virtio_pci *p, unsigned offset)
{
	struct virtio_dev *vd = p->vd;
	struct virtio_queue *vq = virtio_queue(vd, p->queue_sel);
	uint64_t *addr;

	switch (offset) {
	case COMMON_DFSELECT:
		return p->device_feature_sel;
	case COMMON_DF:
		return virtio_device_features(vd, p->device_feature_sel);
	case COMMON_GFSELECT:
		return p->driver_feature_sel;
	case COMMON_GF:
		return virtio_driver_features(vd, p->driver_feature_sel);
	case COMMON_MSIX:
		return vd->config_msix_vector;
	case COMMON_NUMQ:
		return vd->num_queues;
	case COMMON_STATUS:
		return virtio_status(vd);
	case COMMON_CFGGENERATION:
		return vd->config_generation;
	case COMMON_Q_SELECT:
		return p->queue_sel;
	case COMMON_Q_SIZE:
		return vq ? vq->size : 0; /* 0: no such queue */
	case COMMON_Q_MSIX:
		return vq ? vq->msix_vector : VIRTIO_MSI_NO_VECTOR;
	case COMMON_Q_ENABLE:
		return vq && vq->ready;
	case COMMON_Q_NOFF:
		/* Queue q notifies at q * multiplier. */
		return vq ? p->queue_sel : 0;
	default:
		addr = queue_addr_field(vq, offset);
		return addr ? *addr : 0;
	}
}

static uint64_t
common_read(struct virtio_pci *p, uint64_t offset, unsigned size)
{
	const struct common_field *f = common_field(offset, size);
	uint64_t v;

	if (!f) {
		bad_access(p,
			   "common configuration read not at a field's "
			   "natural width",
			   offset, size);
		return range_all_ones(size);
	}
	v = common_value(p, f->offset);
	if (size < f->size)
		v >>= 8 * (offset - f->offset);
	return v & range_all_ones(size);
}

/* queue_desc / queue_driver / queue_device, whole or one half. */
static void
write_queue_addr(struct virtio_pci *p, unsigned field, uint64_t offset,
		 unsigned size, uint64_t value)
{
	struct virtio_queue *vq = virtio_queue(p->vd, p->queue_sel);
	uint64_t none = 0, *addr = queue_addr_field(vq, field), v = value;

	if (!addr)
		addr = &none; /* refused and counted by the core */
	if (size == 4 && offset == field)
		v = (*addr & ~0xffffffffull) | (value & 0xffffffffull);
	else if (size == 4)
		v = (*addr & 0xffffffffull) | value << 32;
	virtio_queue_set_addr(p->vd, p->queue_sel, addr, v);
}

static void
write_queue_msix(struct virtio_pci *p, uint16_t value)
{
	struct virtio_queue *vq = virtio_queue(p->vd, p->queue_sel);

	if (!vq) {
		bad_access(p,
			   "queue_msix_vector of a queue that does not exist",
			   COMMON_Q_MSIX, 2);
		return;
	}
	vq->msix_vector = map_vector(p, value);
}

static void
write_queue_enable(struct virtio_pci *p, uint16_t value)
{
	if (value != 1) {
		/* 4.1.4.3.2: the driver MUST NOT write 0 (nor anything but
		 * 1); a queue goes out of use only by a reset. */
		p->stats.queue_enable_refused++;
		bad_access(p, "queue_enable other than 1", COMMON_Q_ENABLE, 2);
		return;
	}
	virtio_queue_set_ready(p->vd, p->queue_sel, true);
}

static void
common_write(struct virtio_pci *p, uint64_t offset, unsigned size,
	     uint64_t value)
{
	const struct common_field *f = common_field(offset, size);

	if (!f || !f->writable) {
		bad_access(
			p,
			f ? "write of a read-only common configuration field" :
			    "common configuration write not at a field's "
			    "natural width",
			offset, size);
		return;
	}
	switch (f->offset) {
	case COMMON_DFSELECT:
		p->device_feature_sel = (uint32_t)value;
		break;
	case COMMON_GFSELECT:
		p->driver_feature_sel = (uint32_t)value;
		break;
	case COMMON_GF:
		virtio_set_driver_features(p->vd, p->driver_feature_sel,
					   (uint32_t)value);
		break;
	case COMMON_MSIX:
		p->vd->config_msix_vector = map_vector(p, (uint16_t)value);
		break;
	case COMMON_STATUS:
		virtio_set_status(p->vd, (uint8_t)value);
		if (value == 0)
			transport_reset(p);
		break;
	case COMMON_Q_SELECT:
		p->queue_sel = (uint16_t)value;
		break;
	case COMMON_Q_SIZE:
		virtio_queue_set_size(p->vd, p->queue_sel, (uint16_t)value);
		break;
	case COMMON_Q_MSIX:
		write_queue_msix(p, (uint16_t)value);
		break;
	case COMMON_Q_ENABLE:
		write_queue_enable(p, (uint16_t)value);
		break;
	default:
		write_queue_addr(p, f->offset, offset, size, value);
		break;
	}
}

/* ---- the other structures ---- */

/* Read to clear (4.1.4.5): the line goes down with it. */
static uint64_t
isr_read(struct virtio_pci *p, uint64_t offset, unsigned size)
{
	uint8_t v = p->isr;

	if (offset != 0 || size != 1) {
		bad_access(p, "ISR read other than its one byte", offset, size);
		return range_all_ones(size);
	}
	p->isr = 0;
	update_intx(p);
	return v;
}

/* Device configuration: 8 bytes are two 4-byte halves, as Linux does. */
static uint64_t
device_cfg_read(struct virtio_pci *p, uint64_t offset, unsigned size)
{
	struct virtio_dev *vd = p->vd;

	if (offset > vd->config_len || size > vd->config_len - offset) {
		bad_access(p, "read past the device configuration", offset,
			   size);
		return range_all_ones(size);
	}
	if (size == 8)
		return virtio_config_read(vd, (unsigned)offset, 4) |
		       (uint64_t)virtio_config_read(vd, (unsigned)offset + 4, 4)
			       << 32;
	return virtio_config_read(vd, (unsigned)offset, size);
}

static void
device_cfg_write(struct virtio_pci *p, uint64_t offset, unsigned size,
		 uint64_t value)
{
	struct virtio_dev *vd = p->vd;

	if (offset > vd->config_len || size > vd->config_len - offset) {
		bad_access(p, "write past the device configuration", offset,
			   size);
		return;
	}
	if (size == 8) {
		virtio_config_write(vd, (unsigned)offset, 4, (uint32_t)value);
		virtio_config_write(vd, (unsigned)offset + 4, 4,
				    (uint32_t)(value >> 32));
		return;
	}
	virtio_config_write(vd, (unsigned)offset, size, (uint32_t)value);
}

/*
 * A driver notification (4.1.5.2): the address names the queue; the
 * value (the queue index, 16 bits) is not needed.  Answered now, served
 * from deferred work by the core.
 */
static void
notify_write(struct virtio_pci *p, uint64_t offset, unsigned size)
{
	uint64_t q = offset / VPCI_NOTIFY_MULTIPLIER;

	if ((size != 2 && size != 4) || offset % VPCI_NOTIFY_MULTIPLIER ||
	    q >= p->vd->num_queues) {
		p->stats.notify_bad++;
		bad_access(p, "notification naming no queue", offset, size);
		return;
	}
	virtio_queue_kick(p->vd, (unsigned)q);
}

/* ---- BAR0 ---- */

static uint64_t
bar_read(struct virtio_pci *p, uint64_t offset, unsigned size)
{
	uint64_t rel = offset % VPCI_PAGE_SIZE, v;

	if (offset >= VPCI_BAR_SIZE || rel + size > VPCI_PAGE_SIZE) {
		bad_access(p, "BAR read across a page or outside", offset,
			   size);
		return range_all_ones(size);
	}
	switch (offset - rel) {
	case VPCI_COMMON_OFFSET:
		if (rel + size > COMMON_SIZE)
			break;
		return common_read(p, rel, size);
	case VPCI_ISR_OFFSET:
		return isr_read(p, rel, size);
	case VPCI_DEVICE_OFFSET:
		return device_cfg_read(p, rel, size);
	case VPCI_MSIX_TABLE_OFFSET:
	case VPCI_MSIX_PBA_OFFSET:
		if (pci_msix_mmio_read(&p->pf, VPCI_BAR, offset, size, &v))
			return v;
		break;
	default:
		break;
	}
	bad_access(p, "BAR read outside every structure", offset, size);
	return range_all_ones(size);
}

static void
bar_write(struct virtio_pci *p, uint64_t offset, unsigned size, uint64_t value)
{
	uint64_t rel = offset % VPCI_PAGE_SIZE;

	if (offset >= VPCI_BAR_SIZE || rel + size > VPCI_PAGE_SIZE) {
		bad_access(p, "BAR write across a page or outside", offset,
			   size);
		return;
	}
	switch (offset - rel) {
	case VPCI_COMMON_OFFSET:
		if (rel + size > COMMON_SIZE)
			break;
		common_write(p, rel, size, value);
		return;
	case VPCI_ISR_OFFSET:
		bad_access(p, "write of the read-only ISR", offset, size);
		return;
	case VPCI_DEVICE_OFFSET:
		device_cfg_write(p, rel, size, value);
		return;
	case VPCI_NOTIFY_OFFSET:
		notify_write(p, rel, size);
		return;
	case VPCI_MSIX_TABLE_OFFSET:
	case VPCI_MSIX_PBA_OFFSET:
		if (pci_msix_mmio_write(&p->pf, VPCI_BAR, offset, size, value))
			return;
		break;
	default:
		break;
	}
	bad_access(p, "BAR write outside every structure", offset, size);
}

static uint64_t
virtio_pci_read(struct device *dev, unsigned region, uint64_t offset,
		unsigned size)
{
	struct virtio_pci *p = to_vpci(dev);

	if (region != VPCI_BAR) {
		bad_access(p, "read of a region that is not BAR0", offset,
			   size);
		return range_all_ones(size);
	}
	return bar_read(p, offset, size);
}

static void
virtio_pci_write(struct device *dev, unsigned region, uint64_t offset,
		 unsigned size, uint64_t value)
{
	struct virtio_pci *p = to_vpci(dev);

	if (region != VPCI_BAR) {
		bad_access(p, "write of a region that is not BAR0", offset,
			   size);
		return;
	}
	/* The bus masks it already; a half-field write relies on it. */
	bar_write(p, offset, size, value & range_all_ones(size));
}

/* ---- configuration space and the access capability ---- */

/*
 * The window the driver set in the access capability (4.1.4.9), for a
 * config access of `size` bytes at pci_cfg_data: BAR0, length 1, 2 or 4,
 * offset a multiple of it, inside the BAR, and an access that starts at
 * pci_cfg_data and is at least the window's length wide (the driver must
 * supply or take every byte of it).  false for anything else.
 */
static bool
cfg_window(struct virtio_pci *p, unsigned offset, unsigned size,
	   uint32_t *ret_offset, uint32_t *ret_len)
{
	unsigned cap = p->cfg_cap;
	uint32_t off = pci_get_long(&p->pf, cap + CAP_OFFSET);
	uint32_t len = pci_get_long(&p->pf, cap + CAP_LENGTH);

	if (offset != cap + CAP_PCI_CFG_DATA ||
	    p->pf.cfg[cap + CAP_BAR] != VPCI_BAR ||
	    (len != 1 && len != 2 && len != 4) || off % len || size < len ||
	    !range_within(off, len, VPCI_BAR_SIZE)) {
		p->stats.cfg_window_bad++;
		bad_access(p, "pci_cfg_data access with a bad window", offset,
			   size);
		return false;
	}
	*ret_offset = off;
	*ret_len = len;
	return true;
}

static bool
touches_cfg_data(const struct virtio_pci *p, unsigned offset, unsigned size)
{
	unsigned data = p->cfg_cap + CAP_PCI_CFG_DATA;

	return offset < data + CAP_PCI_CFG_DATA_LEN && data < offset + size;
}

static uint32_t
virtio_pci_config_read(struct device *dev, unsigned offset, unsigned size)
{
	struct virtio_pci *p = to_vpci(dev);
	uint32_t off, len;

	if (!pci_config_access_valid(offset, size) ||
	    !touches_cfg_data(p, offset, size))
		return pci_config_read(&p->pf, offset, size);
	if (!cfg_window(p, offset, size, &off, &len))
		return (uint32_t)range_all_ones(size);
	return (uint32_t)bar_read(p, off, len);
}

static void
virtio_pci_config_write(struct device *dev, unsigned offset, unsigned size,
			uint32_t value)
{
	struct virtio_pci *p = to_vpci(dev);
	uint32_t off, len;

	/* pci_cfg_data is read-only 0 in the image: only the window acts. */
	pci_config_write(&p->pf, offset, size, value);
	if (!pci_config_access_valid(offset, size) ||
	    !touches_cfg_data(p, offset, size))
		return;
	if (cfg_window(p, offset, size, &off, &len))
		bar_write(p, off, len, value & range_all_ones(len));
}

/* ---- life cycle ---- */

/* The transport's PCI-level reset: the device, then the function. */
static void
virtio_pci_reset(struct device *dev)
{
	struct virtio_pci *p = to_vpci(dev);

	virtio_reset(p->vd);
	transport_reset(p);
	pci_function_reset(&p->pf);
}

static void
virtio_pci_destroy(struct device *dev)
{
	struct virtio_pci *p;

	if (!dev)
		return;
	p = to_vpci(dev);
	if (p->vd) {
		virtio_dev_fini(p->vd);
		if (p->vd->ops->destroy)
			p->vd->ops->destroy(p->vd);
	}
	pci_function_fini(&p->pf);
	free(p);
}

static void
virtio_pci_stats(const struct device *dev, const struct device_stats_writer *w)
{
	const struct virtio_pci *p = container_of(dev, const struct virtio_pci,
						  dev);

	virtio_emit_stats(p->vd, w);
	if (p->vd->ops->stats)
		p->vd->ops->stats(p->vd, w);
	device_stats_emit(w, "pci_notify_bad", p->stats.notify_bad);
	device_stats_emit(w, "pci_irq_no_vector", p->stats.irq_no_vector);
	device_stats_emit(w, "pci_vector_refused", p->stats.vector_refused);
	device_stats_emit(w, "pci_cfg_window_bad", p->stats.cfg_window_bad);
	device_stats_emit(w, "pci_queue_enable_refused",
			  p->stats.queue_enable_refused);
	device_stats_emit(w, "pci_msi_sent", p->pf.stats.msi_sent);
	device_stats_emit(w, "pci_msi_masked", p->pf.stats.msi_masked);
	device_stats_emit(w, "pci_msi_dropped", p->pf.stats.msi_dropped);
	device_stats_emit(w, "pci_intx_changes", p->pf.stats.intx_changes);
	device_stats_emit(w, "pci_bar_refused", p->pf.stats.bar_refused);
}

/*
 * "none" until DRIVER_OK: before it the device sends nothing, whatever
 * the PCI function allows.  Then MSI-X when enabled, else INTx (if not
 * disabled in COMMAND).
 */
static void
virtio_pci_describe(const struct device *dev,
		    const struct device_info_writer *w)
{
	const struct virtio_pci *p = container_of(dev, const struct virtio_pci,
						  dev);

	virtio_describe(p->vd, w);
	device_info_str(w, "interrupt",
			(virtio_status(p->vd) & VIRTIO_STATUS_DRIVER_OK) ?
				pci_interrupt_mode(&p->pf) :
				"none");
}

static int
virtio_pci_chardev_attach(struct device *dev, const struct cfg_backend *backend)
{
	return virtio_chardev_attach(to_vpci(dev)->vd, backend);
}

static int
virtio_pci_blockdev_change(struct device *dev, const char *path, int read_only)
{
	return virtio_blockdev_change(to_vpci(dev)->vd, path, read_only);
}

static const struct device_ops virtio_pci_ops = {
	.destroy = virtio_pci_destroy,
	.reset = virtio_pci_reset,
	.read = virtio_pci_read,
	.write = virtio_pci_write,
	.config_read = virtio_pci_config_read,
	.config_write = virtio_pci_config_write,
	.stats = virtio_pci_stats,
	.describe = virtio_pci_describe,
	.chardev_attach = virtio_pci_chardev_attach,
	.blockdev_change = virtio_pci_blockdev_change,
};

/* A class code per device type, as QEMU's virtio-*-pci give them. */
static uint32_t
class_code(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* network, Ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x010000; /* mass storage, SCSI */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0x00ff00; /* unclassified (QEMU's "others") */
	}
}

/* A virtio vendor capability pointing at [offset, offset + length). */
static int
add_vendor_cap(struct virtio_pci *p, uint8_t cfg_type, unsigned cap_len,
	       uint32_t offset, uint32_t length)
{
	int off = pci_add_capability(&p->pf, PCI_CAP_ID_VNDR, cap_len);
	uint8_t *cfg = p->pf.cfg;

	if (off < 0)
		return off;
	cfg[off + CAP_LEN] = (uint8_t)cap_len;
	cfg[off + CAP_CFG_TYPE] = cfg_type;
	cfg[off + CAP_BAR] = VPCI_BAR;
	cfg[off + CAP_ID] = 0;
	put_le32(cfg, (unsigned)off + CAP_OFFSET, offset);
	put_le32(cfg, (unsigned)off + CAP_LENGTH, length);
	return off;
}

/* BAR0, the capabilities and MSI-X (see the top). */
static int
build_function(struct virtio_pci *p, const struct virtio_dev *vd)
{
	struct pci_function *pf = &p->pf;
	int r;

	r = pci_add_bar(pf, VPCI_BAR, PCI_BAR_MEM64, VPCI_BAR_SIZE, false,
			DEVICE_ACCESS_ALL);
	if (r < 0)
		return r;
	r = add_vendor_cap(p, VPCI_CAP_COMMON_CFG, CAP_SIZE, VPCI_COMMON_OFFSET,
			   COMMON_SIZE);
	if (r < 0)
		return r;
	r = add_vendor_cap(p, VPCI_CAP_NOTIFY_CFG, CAP_NOTIFY_SIZE,
			   VPCI_NOTIFY_OFFSET,
			   vd->num_queues * VPCI_NOTIFY_MULTIPLIER);
	if (r < 0)
		return r;
	put_le32(pf->cfg, (unsigned)r + CAP_NOTIFY_MULT,
		 VPCI_NOTIFY_MULTIPLIER);
	r = add_vendor_cap(p, VPCI_CAP_ISR_CFG, CAP_SIZE, VPCI_ISR_OFFSET, 1);
	if (r < 0)
		return r;
	r = add_vendor_cap(p, VPCI_CAP_DEVICE_CFG, CAP_SIZE, VPCI_DEVICE_OFFSET,
			   VPCI_PAGE_SIZE);
	if (r < 0)
		return r;
	r = add_vendor_cap(p, VPCI_CAP_PCI_CFG, CAP_PCI_CFG_SIZE, 0, 0);
	if (r < 0)
		return r;
	p->cfg_cap = (unsigned)r;
	/* The driver sets the window: bar, offset and length are its. */
	pf->wmask[r + CAP_BAR] = 0xff;
	put_le32(pf->wmask, (unsigned)r + CAP_OFFSET, 0xffffffffu);
	put_le32(pf->wmask, (unsigned)r + CAP_LENGTH, 0xffffffffu);
	r = pci_msix_init(pf, vd->num_queues + 1, VPCI_BAR,
			  VPCI_MSIX_TABLE_OFFSET, VPCI_MSIX_PBA_OFFSET);
	return r < 0 ? r : 0;
}

int
virtio_pci_create(const struct cfg_device *cfg, const struct device_type *type,
		  const struct device_services *svc, struct virtio_dev *vd,
		  struct device **ret_dev)
{
	struct pci_ids ids = {
		.vendor_id = VPCI_VENDOR_ID,
		.revision = VPCI_REVISION,
		.subsystem_vendor_id = VPCI_VENDOR_ID,
		.interrupt_pin = 1, /* INTA */
	};
	struct virtio_pci *p;
	int r;

	if (!cfg || !type || !svc || !vd || !vd->ops || !ret_dev ||
	    !(cfg->keys & CFG_KEY_PCI) || vd->device_id == 0 ||
	    vd->device_id > VPCI_DEVICE_ID_MAX || vd->num_queues == 0 ||
	    vd->num_queues > VIRTIO_QUEUES_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	device_init(&p->dev, type, &virtio_pci_ops, cfg->id, svc);
	p->dev.is_pci = true;
	p->dev.pci_sbdf = cfg->pci_sbdf;
	ids.device_id = (uint16_t)(VPCI_DEVICE_ID_BASE + vd->device_id);
	ids.class_code = class_code(vd->device_id);
	ids.subsystem_id = ids.device_id;
	pci_function_init(&p->pf, &p->dev, &ids);
	r = build_function(p, vd);
	if (r < 0) {
		/* vd is not ours yet: destroy leaves it to the caller. */
		virtio_pci_destroy(&p->dev);
		return r;
	}
	p->vd = vd;
	virtio_dev_set_transport(vd, &vpci_transport_ops, p);
	vd->dev = &p->dev;
	*ret_dev = &p->dev;
	return 0;
}
