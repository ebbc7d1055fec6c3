/*
 * struct device_services for real (devices/device.h): interrupt lines and
 * MSIs as dm_ops, guest memory through the mapping cache, and region moves
 * as claim/release with Xen plus a bus update (logged at info level,
 * rate-limited: the guest drives them), guest shutdown requests.  Devices
 * decide when a line level changes; this file only forwards.  Any ESRCH
 * marks the domain as gone for the daemon's loop.  Left out for now: Arm
 * SPIs, PCI link routes.
 */
#include "ioreq/server-internal.h"

#include <errno.h>
#include <xen/sched.h>

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

static const char *
space_name(enum bus_space space)
{
	return space == BUS_SPACE_PORT ? "ports" : "MMIO";
}

/*
 * One debug line per claim or release: a guest moves BARs as often as it
 * likes (every probe of a BAR's size is two moves), so this is fast-path
 * traffic, kept out of the info level and rate-limited.
 */
static void
log_region(struct ioreq_server *s, const struct device *dev,
	   const char *what, const struct device_region *reg, unsigned region)
{
	log_ratelimited(&s->region_ratelimit, LOG_LEVEL_DEBUG,
			"device %s: %s %s 0x%llx-0x%llx (region %u)",
			dev->id, what, space_name(reg->space),
			(unsigned long long)reg->base,
			(unsigned long long)(reg->base + reg->size - 1),
			region);
}

/*
 * Claim region `region` of dev (its current base/size) with Xen and on the
 * bus.  All or nothing: -EEXIST (overlap on the bus), -EINVAL (bad
 * range), or the dm_op's error, with nothing claimed.
 */
static int
region_claim(struct ioreq_server *s, struct device *dev, unsigned region)
{
	const struct device_region *reg = &dev->regions[region];
	int r;

	r = ioreq_range_check(reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	if (bus_overlaps(s->bus, reg->space, reg->base, reg->size))
		return -EEXIST;
	r = ioreq_map_range(s, reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	r = bus_add(s->bus, dev, region);
	if (r < 0) {
		(void)ioreq_unmap_range(s, reg->space, reg->base, reg->size);
		return r;
	}
	log_region(s, dev, "claimed", reg, region);
	return 0;
}

/*
 * Release the claim of (dev, region) at old->base, if it is there: the bus
 * entry must match exactly, so a window that was never claimed (a failed
 * earlier claim) is not released from Xen.  Xen first, so that a failing
 * dm_op leaves both sides as they were.
 */
static int
region_release(struct ioreq_server *s, struct device *dev, unsigned region,
	       const struct device_region *old)
{
	const struct bus_entry *e;
	int r;

	if (ioreq_range_check(old->space, old->base, old->size) < 0)
		return 0;
	e = bus_find(s->bus, old->space, old->base, old->size);
	if (!e || e->dev != dev || e->region != region ||
	    e->base != old->base || e->size != old->size)
		return 0;
	r = ioreq_unmap_range(s, old->space, old->base, old->size);
	if (r < 0)
		return r;
	(void)bus_remove(s->bus, old->space, old->base, dev, region);
	log_region(s, dev, "released", old, region);
	return 0;
}

/*
 * A device moved, resized, enabled or disabled one of its regions (PCI
 * BAR programming, decode bits).  The old window is released if it was
 * claimed, then the new one is claimed (size 0: release only).  When the
 * new claim fails the old window stays released: the device is now
 * elsewhere, so answering at the old address would be wrong, and the
 * device learns from the error that its window is not decoded.
 */
static int
svc_region_changed(void *opaque, struct device *dev, unsigned region,
		   const struct device_region *old)
{
	struct ioreq_server *s = opaque;
	int r;

	if (!dev || region >= DEVICE_MAX_REGIONS ||
	    region >= dev->region_count)
		return -EINVAL;
	if (old && old->size != 0) {
		r = region_release(s, dev, region, old);
		if (r < 0)
			return r;
	}
	if (dev->regions[region].size == 0)
		return 0;
	return region_claim(s, dev, region);
}

/* A device's reason as Xen's SHUTDOWN_* code (xen/include/public/sched.h). */
static int
xen_shutdown_reason(enum device_shutdown reason)
{
	switch (reason) {
	case DEVICE_SHUTDOWN_POWEROFF: return SHUTDOWN_poweroff;
	case DEVICE_SHUTDOWN_REBOOT: return SHUTDOWN_reboot;
	case DEVICE_SHUTDOWN_CRASH: return SHUTDOWN_crash;
	}
	return -1;
}

static int
svc_shutdown(void *opaque, enum device_shutdown reason)
{
	struct ioreq_server *s = opaque;
	int code = xen_shutdown_reason(reason);

	if (code < 0)
		return -EINVAL;
	if (xendevicemodel_shutdown(s->dmod, s->domid, (unsigned)code) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

void
ioreq_services_init(struct ioreq_server *s)
{
	s->services = (struct device_services){
		.opaque = s,
		.events = ioreq_events_services(s->events),
		.set_isa_irq = svc_set_isa_irq,
		.set_pci_intx = svc_set_pci_intx,
		.send_msi = svc_send_msi,
		.guest_read = svc_guest_read,
		.guest_write = svc_guest_write,
		.region_changed = svc_region_changed,
		.shutdown = svc_shutdown,
	};
}

const struct device_services *
ioreq_server_services(struct ioreq_server *s)
{
	return &s->services;
}
