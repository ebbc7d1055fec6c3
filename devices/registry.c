/*
 * Explicit name -> type registry: grep-able and ordered, no constructors
 * or linker sets.
 */
#include "devices/registry.h"

#include <string.h>

#define DEVICE_TYPE_ADDRESS(name) &name,

const struct device_type *const device_types[] = {
	DEVICE_TYPE_LIST(DEVICE_TYPE_ADDRESS) NULL,
};

const struct device_type *
device_type_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; device_types[i]; i++) {
		if (strcmp(device_types[i]->name, name) == 0)
			return device_types[i];
	}
	return NULL;
}

const struct cfg_type_desc *
device_type_cfg_find(const char *name)
{
	const struct device_type *type = device_type_find(name);

	return type ? type->cfg : NULL;
}
