/* In-memory device services for unit tests; see fake-services.h. */
#include "fake-services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "devices/guest-mem.h"
#include "ioreq/events.h"

static int
fake_set_isa_irq(void *opaque, unsigned irq, bool level)
{
	struct fake_services *f = opaque;

	if (irq >= FAKE_ISA_IRQS) {
		f->isa_bad_calls++;
		return -EINVAL;
	}
	if (f->fail_irq < 0)
		return f->fail_irq;
	f->isa_level[irq] = level;
	f->isa_calls[irq]++;
	if (level)
		f->isa_raises[irq]++;
	return 0;
}

static int
fake_set_pci_intx(void *opaque, unsigned slot, unsigned pin, bool level)
{
	struct fake_services *f = opaque;

	if (slot >= 32 || pin >= 4)
		return -EINVAL;
	f->intx_level[slot][pin] = level;
	f->intx_calls++;
	return 0;
}

static int
fake_set_irq_level(void *opaque, unsigned irq, bool level)
{
	struct fake_services *f = opaque;

	if (irq >= FAKE_IRQ_LINES) {
		f->line_bad_calls++;
		return -EINVAL;
	}
	if (f->fail_irq < 0)
		return f->fail_irq;
	f->line_level[irq] = level;
	f->line_calls++;
	return 0;
}

static int
fake_send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct fake_services *f = opaque;

	if (f->msi_count < FAKE_MAX_RECORDS)
		f->msis[f->msi_count] = (struct fake_msi){ addr, data };
	f->msi_count++;
	f->last_msi_addr = addr;
	f->last_msi_data = data;
	return 0;
}

static int
fake_guest_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	struct fake_services *f = opaque;

	if (gpa > f->mem_size || len > f->mem_size - gpa)
		return -EFAULT;
	memcpy(buf, f->mem + gpa, len);
	return 0;
}

static int
fake_guest_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct fake_services *f = opaque;

	if (gpa > f->mem_size || len > f->mem_size - gpa)
		return -EFAULT;
	memcpy(f->mem + gpa, buf, len);
	return 0;
}

static int
fake_guest_map(void *opaque, uint64_t gpa, size_t len, bool writable,
	       struct guest_sg *sg)
{
	struct fake_services *f = opaque;
	size_t off = gpa, n;

	memset(sg, 0, sizeof(*sg));
	if (f->fail_map < 0)
		return f->fail_map;
	if (gpa > f->mem_size || len > f->mem_size - gpa)
		return -EFAULT;
	while (len) {
		n = len;
		if (f->map_granule && n > f->map_granule - off % f->map_granule)
			n = f->map_granule - off % f->map_granule;
		if (sg->n == GUEST_SG_MAX) {
			memset(sg, 0, sizeof(*sg));
			return -E2BIG;
		}
		sg->seg[sg->n++] = (struct guest_sg_seg){ f->mem + off, n };
		off += n;
		len -= n;
	}
	if (sg->n) {
		sg->epoch_now = &f->map_epoch;
		sg->epoch = f->map_epoch;
		f->maps++;
		f->maps_held++;
	}
	return 0;
}

static void
fake_guest_unmap(void *opaque, struct guest_sg *sg)
{
	struct fake_services *f = opaque;

	if (sg->n == 0)
		return;
	f->maps_held--;
	memset(sg, 0, sizeof(*sg));
}

static int
fake_region_changed(void *opaque, struct device *dev, unsigned region,
		    const struct device_region *old)
{
	struct fake_services *f = opaque;
	struct fake_region_change c = {
		.dev = dev,
		.region = region,
		.old = old ? *old : (struct device_region){ 0 },
		.new = dev->regions[region],
		.result = 0,
	};

	if (f->fail_region < 0 && c.new.size != 0)
		c.result = f->fail_region;
	if (f->region_changes < FAKE_MAX_RECORDS)
		f->changes[f->region_changes] = c;
	f->region_changes++;
	return c.result;
}

static int
fake_shutdown(void *opaque, enum device_shutdown reason)
{
	struct fake_services *f = opaque;

	f->shutdowns++;
	f->last_shutdown_reason = reason;
	return 0;
}

static void
fake_report(void *opaque, const struct device *dev, enum device_event event,
	    const char *desc)
{
	struct fake_services *f = opaque;

	f->reports++;
	if ((unsigned)event <
	    sizeof(f->report_counts) / sizeof(f->report_counts[0]))
		f->report_counts[event]++;
	f->last_report_dev = dev;
	f->last_report_event = event;
	(void)snprintf(f->last_report_desc, sizeof(f->last_report_desc), "%s",
		       desc ? desc : "(NULL)");
}

void
fake_services_clear(struct fake_services *f)
{
	f->msi_count = 0;
	f->region_changes = 0;
	f->intx_calls = 0;
	f->line_calls = 0;
	f->shutdowns = 0;
	f->reports = 0;
	memset(f->report_counts, 0, sizeof(f->report_counts));
}

int
fake_services_init(struct fake_services *f, size_t mem_size)
{
	memset(f, 0, sizeof(*f));
	f->evbase = event_base_new();
	if (!f->evbase || ioreq_events_new(f->evbase, &f->events) < 0 ||
	    (mem_size && !(f->mem = calloc(1, mem_size)))) {
		fake_services_fini(f);
		return -ENOMEM;
	}
	f->mem_size = mem_size;
	f->svc = (struct device_services){
		.opaque = f,
		.events = ioreq_events_services(f->events),
		.set_isa_irq = fake_set_isa_irq,
		.set_pci_intx = fake_set_pci_intx,
		.set_irq_level = fake_set_irq_level,
		.send_msi = fake_send_msi,
		.guest_read = fake_guest_read,
		.guest_write = fake_guest_write,
		.guest_map = fake_guest_map,
		.guest_unmap = fake_guest_unmap,
		.region_changed = fake_region_changed,
		.shutdown = fake_shutdown,
		.report = fake_report,
	};
	return 0;
}

void
fake_services_fini(struct fake_services *f)
{
	free(f->mem);
	ioreq_events_free(f->events);
	if (f->evbase)
		event_base_free(f->evbase);
	memset(f, 0, sizeof(*f));
}

void
fake_services_answered(struct fake_services *f)
{
	ioreq_events_answered(f->events);
}
