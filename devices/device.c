/*
 * Common device instance header (see device.h).  Nothing here is
 * guest-visible; it only gives every model the same starting state.
 */
#include "devices/device.h"

#include <stdio.h>
#include <string.h>

void
device_init(struct device *dev, const struct device_class *cls,
	    const char *id, const struct device_services *svc)
{
	memset(dev, 0, sizeof(*dev));
	dev->cls = cls;
	dev->svc = svc;
	/* ids longer than the field are cut; config/ caps them at 63 anyway */
	(void)snprintf(dev->id, sizeof(dev->id), "%s", id ? id : "");
}
