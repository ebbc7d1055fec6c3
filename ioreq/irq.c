/*
 * struct device_services for real (devices/device.h): interrupt lines and
 * MSIs as dm_ops, guest memory through the mapping cache, and region moves
 * as claim/release with Xen plus a bus update.  Devices decide when a line
 * level changes; this file only forwards.  Any ESRCH marks the domain as
 * gone for the daemon's loop.  Not implemented: Arm SPIs, PCI link routes.
 */
#include "ioreq/server-internal.h"

#include <errno.h>

#define ISA_IRQ_COUNT 16
#define PCI_SLOT_COUNT 32
#define PCI_PIN_COUNT 4

static int
svc_set_isa_irq(void *opaque, unsigned irq, bool level)
{
	struct ioreq_server *s = opaque;

	if (irq >= ISA_IRQ_COUNT)
		return -EINVAL;
	if (xendevicemodel_set_isa_irq_level(s->dmod, s->domid, (uint8_t)irq,
					     level) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

static int
svc_set_pci_intx(void *opaque, unsigned slot, unsigned pin, bool level)
{
	struct ioreq_server *s = opaque;

	if (slot >= PCI_SLOT_COUNT || pin >= PCI_PIN_COUNT)
		return -EINVAL;
	if (xendevicemodel_set_pci_intx_level(s->dmod, s->domid, 0, 0,
					      (uint8_t)slot, (uint8_t)pin,
					      level) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

static int
svc_send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct ioreq_server *s = opaque;

	if (xendevicemodel_inject_msi(s->dmod, s->domid, addr, data) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

static int
svc_guest_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_read(&s->guest, gpa, buf, len);
}

static int
svc_guest_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_write(&s->guest, gpa, buf, len);
}

/* Claim region `region` of dev on the bus and with Xen. */
static int
region_claim(struct ioreq_server *s, struct device *dev, unsigned region)
{
	const struct device_region *reg = &dev->regions[region];
	int r;

	if (bus_overlaps(s->bus, reg->space, reg->base, reg->size))
		return -EEXIST;
	r = ioreq_map_range(s, reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	r = bus_add(s->bus, dev, region);
	if (r < 0)
		(void)ioreq_unmap_range(s, reg->space, reg->base, reg->size);
	return r;
}

static int
region_release(struct ioreq_server *s, struct device *dev, unsigned region,
	       const struct device_region *old)
{
	int r = bus_remove(s->bus, old->space, old->base, dev, region);

	if (r < 0)
		return r;
	return ioreq_unmap_range(s, old->space, old->base, old->size);
}

static int
svc_region_changed(void *opaque, struct device *dev, unsigned region,
		   const struct device_region *old)
{
	struct ioreq_server *s = opaque;
	int r;

	if (!dev || region >= DEVICE_MAX_REGIONS)
		return -EINVAL;
	if (old && old->size != 0) {
		r = region_release(s, dev, region, old);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (dev->regions[region].size == 0)
		return 0;
	/* On failure the old window stays released: the device is told. */
	return region_claim(s, dev, region);
}

void
ioreq_services_init(struct ioreq_server *s, struct event_base *evbase)
{
	s->services = (struct device_services){
		.opaque = s,
		.evbase = evbase,
		.set_isa_irq = svc_set_isa_irq,
		.set_pci_intx = svc_set_pci_intx,
		.send_msi = svc_send_msi,
		.guest_read = svc_guest_read,
		.guest_write = svc_guest_write,
		.region_changed = svc_region_changed,
	};
}

const struct device_services *
ioreq_server_services(struct ioreq_server *s)
{
	return &s->services;
}
