/*
 * The virtio-pci transport (virtio 1.2, section 4.1): see virtio-pci.c.
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTIO_PCI_H
#define IOREQD_DEVICES_VIRTIO_VIRTIO_PCI_H

#include "devices/device.h"
#include "devices/virtio/virtio.h"

/*
 * A virtio device type placed with `pci:` needs nothing in its struct
 * cfg_type_desc beyond CFG_KEY_PCI in keys and placement: the function's
 * BAR is placed by the guest, and its interrupts are MSI-X or INTx,
 * neither of which the config names.  (For `mmio:` see
 * VIRTIO_MMIO_CFG_DESC in virtio-mmio.h.)
 */

/*
 * Put vd (initialised, not yet tied to a transport) behind a modern
 * virtio-pci transport at cfg->pci_sbdf: PCI 1af4:(1040 + device id),
 * subsystem the same, one 64-bit memory BAR with the virtio structures
 * and the MSI-X table (num_queues + 1 vectors), INTx on pin A, the PCI
 * configuration access capability.  On success the transport owns
 * vd (its destroy calls virtio_dev_fini, then vd->ops->destroy) and
 * *ret_dev is what the bus sees.  -EINVAL without `pci` or for a device
 * id outside 1..63 (vd is then untouched, still the caller's); -ENOMEM.
 */
int virtio_pci_create(const struct cfg_device *cfg,
		      const struct device_type *type,
		      const struct device_services *svc, struct virtio_dev *vd,
		      struct device **ret_dev);

#endif
