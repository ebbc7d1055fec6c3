/*
 * The virtio-mmio transport (virtio 1.2, section 4.2): see virtio-mmio.c.
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTIO_MMIO_H
#define IOREQD_DEVICES_VIRTIO_VIRTIO_MMIO_H

#include "config/type-desc.h"
#include "devices/device.h"
#include "devices/virtio/virtio.h"

/* Bytes of the register window at `mmio:` (registers, then config). */
#define VIRTIO_MMIO_WINDOW_SIZE 0x200u

/*
 * The `irq:` range: 0-15 are x86 ISA lines (a PVH guest), 16 and up go
 * through set_irq_level (an Arm SPI is 32-1019, the last the GIC has).
 */
#define VIRTIO_MMIO_IRQ_MIN 0u
#define VIRTIO_MMIO_IRQ_MAX 1019u

/*
 * What a virtio device type puts in its struct cfg_type_desc for the
 * `mmio:` placement, beside the keys and placement bits of its own
 * (CFG_KEY_MMIO | CFG_KEY_IRQ in keys, CFG_KEY_MMIO in placement):
 *
 *	static const struct cfg_type_desc virtio_foo_cfg = {
 *		.name = "virtio-foo",
 *		.keys = CFG_KEY_PCI | CFG_KEY_MMIO | CFG_KEY_IRQ,
 *		.placement = CFG_KEY_PCI | CFG_KEY_MMIO,
 *		VIRTIO_MMIO_CFG_DESC,
 *	};
 */
#define VIRTIO_MMIO_CFG_DESC                                            \
	.irq_min = VIRTIO_MMIO_IRQ_MIN, .irq_max = VIRTIO_MMIO_IRQ_MAX, \
	.mmio_size = VIRTIO_MMIO_WINDOW_SIZE, .mmio_requires = CFG_KEY_IRQ

/*
 * Put vd (initialised, not yet tied to a transport) behind a virtio-mmio
 * transport placed by cfg: one region of VIRTIO_MMIO_WINDOW_SIZE bytes at
 * cfg->mmio, interrupts on cfg->irq.  On success the transport owns vd
 * (its destroy calls virtio_dev_fini, then vd->ops->destroy) and
 * *ret_dev is what the bus sees.  -EINVAL without `mmio` or `irq`, or
 * with either out of range (vd is then untouched, still the caller's);
 * -ENOMEM.
 */
int virtio_mmio_create(const struct cfg_device *cfg,
		       const struct device_type *type,
		       const struct device_services *svc, struct virtio_dev *vd,
		       struct device **ret_dev);

#endif
