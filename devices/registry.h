/*
 * The device types compiled into ioreqd, in registry order.  Each model
 * file defines its type as a const object named in DEVICE_TYPE_LIST, which
 * gives both the declarations below and registry.c's device_types[]:
 * adding a device = one line here (and the file in devices/meson.build).
 */
#ifndef IOREQD_DEVICES_REGISTRY_H
#define IOREQD_DEVICES_REGISTRY_H

#include "devices/device.h"

#define DEVICE_TYPE_LIST(X)                                  \
	X(uart16550_isa_type)  /* uart16550.c */             \
	X(debugcon_type)       /* debugcon.c */              \
	X(pci_serial_type)     /* pci-serial.c */            \
	X(pvpanic_type)	       /* pvpanic.c */               \
	X(pvpanic_pci_type)    /* pvpanic.c */               \
	X(virtio_blk_type)     /* virtio/virtio-blk.c */     \
	X(virtio_rng_type)     /* virtio/virtio-rng.c */     \
	X(virtio_console_type) /* virtio/virtio-console.c */ \
			       /* new types go above this line */

#define DEVICE_TYPE_DECLARE(name) extern const struct device_type name;
DEVICE_TYPE_LIST(DEVICE_TYPE_DECLARE)
#undef DEVICE_TYPE_DECLARE

#endif
