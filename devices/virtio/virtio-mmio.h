/*
 * The virtio-mmio transport (virtio 1.2, section 4.2): see virtio-mmio.c.
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTIO_MMIO_H
#define IOREQD_DEVICES_VIRTIO_VIRTIO_MMIO_H

#include "devices/device.h"
#include "devices/virtio/virtio.h"

/*
 * Put vd behind a virtio-mmio transport placed by cfg.  On success the
 * transport owns vd (its destroy calls virtio_dev_fini, then
 * vd->ops->destroy) and *ret_dev is what the bus sees.  -errno.
 */
int virtio_mmio_create(const struct cfg_device *cfg,
		       const struct device_type *type,
		       const struct device_services *svc, struct virtio_dev *vd,
		       struct device **ret_dev);

#endif
