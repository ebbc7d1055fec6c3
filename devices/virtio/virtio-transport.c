/*
 * One entry point for virtio device types: the transport follows from
 * where the config entry places the device (`pci:` or `mmio:`), so a
 * device file never chooses one and every device works over both.
 */
#include <errno.h>

#include "config/cfg.h"
#include "devices/virtio/virtio-mmio.h"
#include "devices/virtio/virtio-pci.h"
#include "devices/virtio/virtio.h"

int
virtio_transport_create(const struct cfg_device *cfg,
			const struct device_type *type,
			const struct device_services *svc,
			struct virtio_dev *vd, struct device **ret_dev)
{
	if (!cfg || !type || !svc || !vd || !ret_dev)
		return -EINVAL;
	if (cfg->keys & CFG_KEY_PCI)
		return virtio_pci_create(cfg, type, svc, vd, ret_dev);
	if (cfg->keys & CFG_KEY_MMIO)
		return virtio_mmio_create(cfg, type, svc, vd, ret_dev);
	return -EINVAL;
}
