/*
 * In-memory struct device_services for device unit tests: records ISA IRQ
 * levels, PCI INTx levels and MSIs, and backs guest memory with a buffer.
 */
#ifndef IOREQD_TESTS_FAKE_SERVICES_H
#define IOREQD_TESTS_FAKE_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

#define FAKE_ISA_IRQS 16

struct fake_services {
	struct device_services svc;	/* svc.opaque points back here */
	struct event_base *evbase;	/* owned */

	bool isa_level[FAKE_ISA_IRQS];
	unsigned isa_calls[FAKE_ISA_IRQS];	/* set_isa_irq calls per line */
	unsigned isa_raises[FAKE_ISA_IRQS];	/* calls with level true */
	unsigned isa_bad_calls;			/* irq >= 16 */
	bool intx_level[32][4];
	unsigned msi_count;
	uint64_t last_msi_addr;
	uint32_t last_msi_data;
	unsigned region_changes;

	uint8_t *mem;			/* guest memory at gpa 0 */
	size_t mem_size;
	int fail_irq;			/* if < 0, set_isa_irq returns it */
};

/* Fresh event base, mem_size bytes of zeroed guest memory. 0 or -ENOMEM. */
int fake_services_init(struct fake_services *f, size_t mem_size);
void fake_services_fini(struct fake_services *f);

#endif
