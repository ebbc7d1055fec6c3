/*
 * In-memory struct device_services for device unit tests: records ISA IRQ
 * levels, PCI INTx levels, platform line (set_irq_level) levels, MSIs and
 * reports (device_services.report, not rate-limited here),
 * and backs guest memory with a buffer (copied, or mapped in place with
 * guest_map: -EFAULT outside the buffer, segments split on demand,
 * revocation by bumping map_epoch).
 * The event services are the daemon's own (ioreq/events.c) on a private
 * event base, which tests pump; fake_services_answered() stands in for
 * the server's "request answered" point where deferred work runs.
 */
#ifndef IOREQD_TESTS_FAKE_SERVICES_H
#define IOREQD_TESTS_FAKE_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

struct ioreq_events;

#define FAKE_ISA_IRQS	 16
#define FAKE_IRQ_LINES	 1024 /* as many as an Arm vGIC has */
#define FAKE_MAX_RECORDS 64

struct fake_msi {
	uint64_t addr;
	uint32_t data;
};

/* One region_changed call: the region before (old) and after (new). */
struct fake_region_change {
	struct device *dev;
	unsigned region;
	struct device_region old, new;
	int result;
};

struct fake_services {
	struct device_services svc;  /* svc.opaque points back here */
	struct event_base *evbase;   /* owned */
	struct ioreq_events *events; /* owned, on evbase */

	bool isa_level[FAKE_ISA_IRQS];
	unsigned isa_calls[FAKE_ISA_IRQS];  /* set_isa_irq calls per line */
	unsigned isa_raises[FAKE_ISA_IRQS]; /* calls with level true */
	unsigned isa_bad_calls;		    /* irq >= 16 */
	bool intx_level[32][4];
	unsigned intx_calls;		 /* set_pci_intx calls */
	bool line_level[FAKE_IRQ_LINES]; /* set_irq_level, by line */
	unsigned line_calls;		 /* set_irq_level calls */
	unsigned line_bad_calls;	 /* line >= FAKE_IRQ_LINES */
	unsigned msi_count;
	uint64_t last_msi_addr;
	uint32_t last_msi_data;
	struct fake_msi msis[FAKE_MAX_RECORDS]; /* first ones, in order */
	unsigned region_changes;
	struct fake_region_change changes[FAKE_MAX_RECORDS];
	int fail_region; /* if < 0, region_changed returns it for
					 * a claim (new size != 0) */
	unsigned shutdowns;
	enum device_shutdown last_shutdown_reason;
	unsigned reports;	   /* report calls */
	unsigned report_counts[3]; /* by enum device_event */
	const struct device *last_report_dev;
	enum device_event last_report_event;
	char last_report_desc[128]; /* "(NULL)" for desc NULL */

	uint8_t *mem; /* guest memory at gpa 0 */
	size_t mem_size;
	int fail_irq; /* if < 0, set_isa_irq and
					 * set_irq_level return it */

	/* guest_map / guest_unmap over mem (gpa = offset). */
	size_t map_granule; /* != 0: segments end at multiples of
					 * it (forces multi-segment maps) */
	int fail_map;	    /* if < 0, guest_map returns it */
	uint64_t map_epoch; /* ++ revokes every mapping held */
	unsigned maps;	    /* successful guest_map calls */
	unsigned maps_held; /* mapped, not yet unmapped */
};

/* Forget recorded MSIs and region changes (counters to 0). */
void fake_services_clear(struct fake_services *f);

/* Fresh event base, mem_size bytes of zeroed guest memory. 0 or -ENOMEM. */
int fake_services_init(struct fake_services *f, size_t mem_size);
void fake_services_fini(struct fake_services *f);

/* As after an answered ioreq: run the work devices have deferred. */
void fake_services_answered(struct fake_services *f);

#endif
