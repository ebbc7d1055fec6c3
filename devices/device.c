/*
 * Common device instance header (see device.h).  Nothing here is
 * guest-visible; it only gives every model the same starting state.
 */
#include "devices/device.h"

#include <stdio.h>
#include <string.h>

void
device_init(struct device *dev, const struct device_type *type,
	    const struct device_ops *ops, const char *id,
	    const struct device_services *svc)
{
	memset(dev, 0, sizeof(*dev));
	dev->type = type;
	dev->ops = ops;
	dev->svc = svc;
	/* ids longer than the field are cut; config/ caps them at 63 anyway */
	(void)snprintf(dev->id, sizeof(dev->id), "%s", id ? id : "");
}

void
device_report(const struct device *dev, enum device_event event,
	      const char *desc)
{
	const struct device_services *svc = dev->svc;

	if (svc && svc->report)
		svc->report(svc->opaque, dev, event, desc);
}
