/*
 * The device classes compiled into ioreqd.  Each model file defines its
 * class as a const object; registry.c lists them in device_classes[].
 * Adding a device = one declaration here + one line in registry.c.
 */
#ifndef IOREQD_DEVICES_REGISTRY_H
#define IOREQD_DEVICES_REGISTRY_H

#include "devices/device.h"

extern const struct device_class uart16550_isa_class;	/* uart16550.c */
extern const struct device_class debugcon_class;	/* debugcon.c */
extern const struct device_class pci_serial_class;	/* pci-serial.c */
extern const struct device_class pvpanic_class;		/* pvpanic.c */
extern const struct device_class pvpanic_pci_class;	/* pvpanic.c */

#endif
