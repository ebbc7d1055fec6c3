/*
 * struct device_services for real (devices/device.h): interrupt lines and
 * MSIs as dm_ops, guest memory through the mapping cache, region moves
 * (claims with Xen and the bus: regions.c, coalesced per request:
 * region-batch.c), guest shutdown requests.  Devices decide when a line
 * level changes; this file only forwards.  Any ESRCH marks the domain as
 * gone for the daemon's loop.  Left out for now: PCI link routes.
 */
#include "ioreq/server-internal.h"
#include "ioreq/guest-svc.h"

#include <errno.h>
#include <xen/sched.h>

#define ISA_IRQ_COUNT  16
#define PCI_SLOT_COUNT 32
#define PCI_PIN_COUNT  4

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

/*
 * XEN_DMOP_set_irq_level exists on Arm only (SPIs: 32 <= irq < the vGIC's
 * line count, else EINVAL); Xen 4.17 on x86 answers EOPNOTSUPP and has no
 * other dm_op for an arbitrary GSI.  So the dm_op is tried first, and once
 * it said EOPNOTSUPP (remembered: one hypercall per level change after
 * that) a GSI below 16 goes through set_isa_irq_level, where ISA IRQ n is
 * GSI n.  GSI 0 has no ISA IRQ (ISA IRQ 0 is GSI 2) and GSI 2 is the
 * timer's and the PIC cascade's: both -EINVAL.  GSIs 16 and up are
 * PCI INTx wires that only set_pci_intx_level reaches: -EOPNOTSUPP.
 */
static int
isa_fallback(struct ioreq_server *s, unsigned irq, bool level)
{
	if (irq >= ISA_IRQ_COUNT)
		return -EOPNOTSUPP;
	if (irq == 0 || irq == 2)
		return -EINVAL;
	return svc_set_isa_irq(s, irq, level);
}

static int
svc_set_irq_level(void *opaque, unsigned irq, bool level)
{
	struct ioreq_server *s = opaque;
	int r;

	if (s->irq_level_unsupported)
		return isa_fallback(s, irq, level);
	if (xendevicemodel_set_irq_level(s->dmod, s->domid, irq, level) == 0)
		return 0;
	r = ioreq_server_dmop_error(s);
	if (r != -EOPNOTSUPP)
		return r;
	s->irq_level_unsupported = true;
	return isa_fallback(s, irq, level);
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

/*
 * A device moved, resized, enabled or disabled one of its regions (PCI
 * BAR programming, decode bits): region-batch.c releases the old window
 * if it was claimed and claims the new one (size 0: release only), with
 * Xen once per request.  When the new claim fails the old window stays
 * released: the device is now elsewhere, so answering at the old address
 * would be wrong.
 */
static int
svc_region_changed(void *opaque, struct device *dev, unsigned region,
		   const struct device_region *old)
{
	return ioreq_region_changed(opaque, dev, region, old);
}

/* A device's reason as Xen's SHUTDOWN_* code (xen/include/public/sched.h). */
static int
xen_shutdown_reason(enum device_shutdown reason)
{
	switch (reason) {
	case DEVICE_SHUTDOWN_POWEROFF:
		return SHUTDOWN_poweroff;
	case DEVICE_SHUTDOWN_REBOOT:
		return SHUTDOWN_reboot;
	case DEVICE_SHUTDOWN_CRASH:
		return SHUTDOWN_crash;
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

/* Rate-limited by the sink (the control socket), per device. */
static void
svc_report(void *opaque, const struct device *dev, enum device_event event,
	   const char *desc)
{
	struct ioreq_server *s = opaque;

	if (s->event_sink)
		s->event_sink(s->event_sink_ctx, dev, event, desc);
}

void
ioreq_server_set_event_sink(struct ioreq_server *s, ioreq_event_sink_fn *fn,
			    void *ctx)
{
	s->event_sink = fn;
	s->event_sink_ctx = ctx;
}

void
ioreq_services_init(struct ioreq_server *s)
{
	s->services = (struct device_services){
		.opaque = s,
		.events = ioreq_events_services(s->events),
		.set_isa_irq = svc_set_isa_irq,
		.set_pci_intx = svc_set_pci_intx,
		.set_irq_level = svc_set_irq_level,
		.send_msi = svc_send_msi,
		.guest_read = svc_guest_read,
		.guest_write = svc_guest_write,
		.guest_map = ioreq_guest_svc_map,
		.guest_unmap = ioreq_guest_svc_unmap,
		.grant_services = ioreq_grant_services,
		.region_changed = svc_region_changed,
		.shutdown = svc_shutdown,
		.report = svc_report,
	};
}

const struct device_services *
ioreq_server_services(struct ioreq_server *s)
{
	return &s->services;
}
