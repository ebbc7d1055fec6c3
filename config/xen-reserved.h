/*
 * Ports and MMIO windows that Xen 4.17 emulates inside the hypervisor for
 * x86 HVM guests.  Xen consults its internal handlers before any IOREQ
 * server, so a claim on these ranges is accepted by dm_op but never sees a
 * guest access; the config validator rejects such claims.
 *
 * PVH guests have only the LAPIC, but ioreqd does not know the guest type
 * when it checks a config, so every entry applies to every guest.
 */
#ifndef IOREQD_CONFIG_XEN_RESERVED_H
#define IOREQD_CONFIG_XEN_RESERVED_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

struct xen_reserved {
	enum cfg_space space;
	uint64_t base;
	uint64_t size;	    /* bytes, half-open [base, base + size) */
	const char *name;   /* e.g. "PIT" */
	const char *source; /* Xen file registering the handler */
};

extern const struct xen_reserved xen_reserved_ranges[];
extern const size_t xen_reserved_count;

/*
 * The first entry after `prev` (NULL: from the start) that overlaps
 * [base, base + size) in `space`, or NULL.  size 0 overlaps nothing; a
 * range running past 2^64 is treated as ending there.
 */
const struct xen_reserved *xen_reserved_next(enum cfg_space space,
					     uint64_t base, uint64_t size,
					     const struct xen_reserved *prev);

#endif
