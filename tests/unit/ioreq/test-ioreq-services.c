/*
 * Unit test for ioreq/services.c's set_irq_level: the dm_op first, and on
 * an x86 Xen (EOPNOTSUPP, remembered) GSIs below 16 as ISA IRQs.  The
 * libxendevicemodel calls services.c makes are faked here (its header
 * only, nothing of the library linked), as are the ioreq/ functions it
 * forwards to.  Also: report to the daemon's event sink behind the
 * per-(device, event) rate limit of report.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ioreq/server-internal.h"
#include "ioreq/guest-svc.h"
#include "tests/unit/devices/test-util.h"

struct xendevicemodel_handle {
	int unused;
};

static struct xendevicemodel_handle dmod;

/* What the fake hypervisor answers set_irq_level with (0 or an errno). */
static int irq_level_errno;
static unsigned irq_level_calls, last_line, last_level;
static unsigned isa_calls, last_isa, last_isa_level;

int
xendevicemodel_set_irq_level(xendevicemodel_handle *h, domid_t domid,
			     uint32_t irq, unsigned int level)
{
	irq_level_calls++;
	if (irq_level_errno) {
		errno = irq_level_errno;
		return -1;
	}
	last_line = irq;
	last_level = level;
	return 0;
}

int
xendevicemodel_set_isa_irq_level(xendevicemodel_handle *h, domid_t domid,
				 uint8_t irq, unsigned int level)
{
	isa_calls++;
	last_isa = irq;
	last_isa_level = level;
	return 0;
}

int
xendevicemodel_set_pci_intx_level(xendevicemodel_handle *h, domid_t domid,
				  uint16_t segment, uint8_t bus, uint8_t device,
				  uint8_t intx, unsigned int level)
{
	return 0;
}

int
xendevicemodel_inject_msi(xendevicemodel_handle *h, domid_t domid,
			  uint64_t msi_addr, uint32_t msi_data)
{
	return 0;
}

int
xendevicemodel_shutdown(xendevicemodel_handle *h, domid_t domid,
			unsigned int reason)
{
	return 0;
}

/* ioreq/ functions services.c forwards to. */
int
ioreq_server_dmop_error(struct ioreq_server *s)
{
	if (errno == ESRCH)
		s->domain_gone = true;
	return -errno;
}

int
ioreq_guest_read(struct ioreq_guest *g, uint64_t gpa, void *buf, size_t len)
{
	return -EFAULT;
}

int
ioreq_guest_write(struct ioreq_guest *g, uint64_t gpa, const void *buf,
		  size_t len)
{
	return -EFAULT;
}

const struct device_events *
ioreq_events_services(struct ioreq_events *events)
{
	return NULL;
}

int
ioreq_guest_svc_map(void *opaque, uint64_t gpa, size_t len, bool writable,
		    struct guest_sg *sg)
{
	return -EFAULT;
}

void
ioreq_guest_svc_unmap(void *opaque, struct guest_sg *sg)
{
}

const struct device_services *
ioreq_grant_services(void *opaque)
{
	(void)opaque;
	return NULL;
}

int
ioreq_region_changed(struct ioreq_server *s, struct device *dev,
		     unsigned region, const struct device_region *old)
{
	return -EINVAL;
}

static void
reset(struct ioreq_server *s, int answer)
{
	memset(s, 0, sizeof(*s));
	s->dmod = &dmod;
	s->domid = 1;
	ioreq_services_init(s);
	irq_level_errno = answer;
	irq_level_calls = isa_calls = 0;
	last_line = last_level = last_isa = last_isa_level = 0;
}

/* Arm: the dm_op carries any line; Xen judges it. */
static void
test_arm(void)
{
	struct ioreq_server s;
	const struct device_services *svc;

	reset(&s, 0);
	svc = ioreq_server_services(&s);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 40, true), 0);
	CHECK_EQ(last_line, 40);
	CHECK_EQ(last_level, 1);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 40, false), 0);
	CHECK_EQ(last_level, 0);
	CHECK_EQ(irq_level_calls, 2);
	CHECK_EQ(isa_calls, 0);

	/* Xen's refusal (an SGI, a line past the vGIC) is the answer. */
	irq_level_errno = EINVAL;
	CHECK_EQ(svc->set_irq_level(svc->opaque, 5, true), -EINVAL);
	CHECK_EQ(isa_calls, 0);
	CHECK(!s.irq_level_unsupported);

	irq_level_errno = ESRCH;
	CHECK_EQ(svc->set_irq_level(svc->opaque, 40, true), -ESRCH);
	CHECK(s.domain_gone);
}

/* x86: EOPNOTSUPP once, then ISA IRQs for GSIs 1 and 3-15 only. */
static void
test_x86(void)
{
	struct ioreq_server s;
	const struct device_services *svc;

	reset(&s, EOPNOTSUPP);
	svc = ioreq_server_services(&s);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 5, true), 0);
	CHECK_EQ(irq_level_calls, 1);
	CHECK_EQ(isa_calls, 1);
	CHECK_EQ(last_isa, 5);
	CHECK_EQ(last_isa_level, 1);

	/* Remembered: no more set_irq_level hypercalls. */
	CHECK_EQ(svc->set_irq_level(svc->opaque, 5, false), 0);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 15, true), 0);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 1, true), 0);
	CHECK_EQ(irq_level_calls, 1);
	CHECK_EQ(isa_calls, 4);
	CHECK_EQ(last_isa, 1);

	/* GSI 0 has no ISA IRQ, GSI 2 is the timer's; >= 16 unreachable. */
	CHECK_EQ(svc->set_irq_level(svc->opaque, 0, true), -EINVAL);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 2, true), -EINVAL);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 16, true), -EOPNOTSUPP);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 0xffffffffu, true),
		 -EOPNOTSUPP);
	CHECK_EQ(isa_calls, 4);
	CHECK_EQ(irq_level_calls, 1);

	/* First call on a line that needs the dm_op: still EOPNOTSUPP. */
	reset(&s, EOPNOTSUPP);
	CHECK_EQ(svc->set_irq_level(svc->opaque, 33, true), -EOPNOTSUPP);
	CHECK(s.irq_level_unsupported);
	CHECK_EQ(isa_calls, 0);
}

struct sink_record {
	unsigned calls;
	const struct device *dev;
	enum device_event event;
	char desc[64];
};

static void
sink(void *ctx, const struct device *dev, enum device_event event,
     const char *desc)
{
	struct sink_record *r = ctx;

	r->calls++;
	r->dev = dev;
	r->event = event;
	snprintf(r->desc, sizeof(r->desc), "%s", desc ? desc : "(null)");
}

/* Through the services: the sink sees the first 10 per pair only. */
static void
test_report(void)
{
	struct ioreq_server s;
	const struct device_services *svc;
	struct sink_record rec = { 0 };
	struct device a = { .id = "a" }, b = { .id = "b" };

	reset(&s, 0);
	svc = ioreq_server_services(&s);
	/* No sink: nothing to call, but the limit still counts. */
	svc->report(svc->opaque, &a, DEVICE_EVENT_IO_ERROR, "x");
	CHECK_EQ(s.reports.delivered, 1);

	reset(&s, 0);
	ioreq_server_set_event_sink(&s, sink, &rec);
	svc->report(svc->opaque, &a, DEVICE_EVENT_GUEST_PANICKED, "boom");
	CHECK_EQ(rec.calls, 1);
	CHECK(rec.dev == &a);
	CHECK_EQ(rec.event, DEVICE_EVENT_GUEST_PANICKED);
	CHECK(strcmp(rec.desc, "boom") == 0);
	svc->report(svc->opaque, &a, DEVICE_EVENT_GUEST_PANICKED, NULL);
	CHECK(strcmp(rec.desc, "(null)") == 0);
	for (int i = 0; i < 20; i++)
		svc->report(svc->opaque, &a, DEVICE_EVENT_GUEST_PANICKED,
			    "flood");
	CHECK_EQ(rec.calls, IOREQ_REPORT_BURST);
	CHECK_EQ(ioreq_server_events_suppressed(&s), 22 - IOREQ_REPORT_BURST);

	/* Another event of the same device, the same event of another. */
	svc->report(svc->opaque, &a, DEVICE_EVENT_NEEDS_RESET, "nr");
	CHECK_EQ(rec.calls, IOREQ_REPORT_BURST + 1);
	CHECK_EQ(rec.event, DEVICE_EVENT_NEEDS_RESET);
	svc->report(svc->opaque, &b, DEVICE_EVENT_GUEST_PANICKED, "b");
	CHECK_EQ(rec.calls, IOREQ_REPORT_BURST + 2);
	CHECK(rec.dev == &b);

	/* Sink removed: nothing more is called. */
	ioreq_server_set_event_sink(&s, NULL, NULL);
	svc->report(svc->opaque, &b, DEVICE_EVENT_GUEST_PANICKED, "b");
	CHECK_EQ(rec.calls, IOREQ_REPORT_BURST + 2);
}

/* The limiter on its own, with a clock of our choosing. */
static void
test_report_window(void)
{
	static struct ioreq_report_limit rl;
	struct device a = { .id = "a" };
	struct device many[IOREQ_REPORT_SLOTS + 1];
	uint64_t t = 5000000;
	unsigned ok = 0;

	for (int i = 0; i < 15; i++)
		ok += ioreq_report_allow(&rl, &a, DEVICE_EVENT_IO_ERROR, t);
	CHECK_EQ(ok, IOREQ_REPORT_BURST);
	/* Still inside the window: held back. */
	CHECK(!ioreq_report_allow(&rl, &a, DEVICE_EVENT_IO_ERROR,
				  t + IOREQ_REPORT_WINDOW_USEC - 1));
	/* A new window: a new burst. */
	CHECK(ioreq_report_allow(&rl, &a, DEVICE_EVENT_IO_ERROR,
				 t + IOREQ_REPORT_WINDOW_USEC));
	CHECK_EQ(rl.suppressed, 6);
	CHECK_EQ(rl.delivered, IOREQ_REPORT_BURST + 1);

	/* More pairs than slots: the table recycles, never fails. */
	for (unsigned i = 0; i < IOREQ_REPORT_SLOTS + 1; i++)
		CHECK(ioreq_report_allow(&rl, &many[i], DEVICE_EVENT_IO_ERROR,
					 t + 2 * IOREQ_REPORT_WINDOW_USEC + i));

	/* Forgetting a device frees its slot: a full burst again. */
	memset(&rl, 0, sizeof(rl));
	for (int i = 0; i < IOREQ_REPORT_BURST; i++)
		CHECK(ioreq_report_allow(&rl, &a, DEVICE_EVENT_IO_ERROR, t));
	ioreq_report_forget(&rl, &a);
	CHECK(ioreq_report_allow(&rl, &a, DEVICE_EVENT_IO_ERROR, t));
}

int
main(void)
{
	test_arm();
	test_x86();
	test_report();
	test_report_window();
	return test_finish();
}
