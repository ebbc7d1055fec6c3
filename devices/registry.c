/*
 * Explicit name -> class registry: grep-able and ordered, no constructors
 * or linker sets.
 */
#include "devices/registry.h"

#include <string.h>

const struct device_class *const device_classes[] = {
	&uart16550_isa_class,
	&debugcon_class,
	&pci_serial_class,
	&pvpanic_class,
	&pvpanic_pci_class,
	NULL,
};

const struct device_class *
device_class_find(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; device_classes[i]; i++) {
		if (strcmp(device_classes[i]->type, type) == 0)
			return device_classes[i];
	}
	return NULL;
}
