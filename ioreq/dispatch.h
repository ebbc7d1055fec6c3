/*
 * Request dispatch: one decoded ioreq -> bus accesses (devices/bus.h).
 *
 * Xen-agnostic on purpose: ring.c decodes the shared slot into a struct
 * ioreq_request, calls ioreq_dispatch(), and writes back req->data.
 * PIO/MMIO go to bus_read/bus_write, PCI_CONFIG to bus_config_read/write
 * (devices/bus.h).  Guest
 * memory (for rep / data_is_ptr requests) is reached through callbacks, so
 * unit tests drive this file with a malloc'd "guest RAM" and no Xen.
 *
 * Threading: the event-loop thread only.
 */
#ifndef IOREQD_IOREQ_DISPATCH_H
#define IOREQD_IOREQ_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"

struct bus;

/* IOREQ_TYPE_* values from xen/hvm/ioreq.h, repeated so tests need no Xen. */
enum ioreq_type {
	IOREQ_REQ_PIO = 0,
	IOREQ_REQ_COPY = 1,
	IOREQ_REQ_PCI_CONFIG = 2,
	IOREQ_REQ_TIMEOFFSET = 7,
	IOREQ_REQ_INVALIDATE = 8,
};

/*
 * Xen truncates rep requests to one page of guest RAM, so no legitimate
 * request has more than 4096 / size elements; anything above is clamped to
 * this (and counted in stats.clamped).
 */
#define IOREQ_REP_MAX_BYTES 4096u

/* A decoded request; fields as in ioreq_t (guest-controlled, untrusted). */
struct ioreq_request {
	uint64_t addr;	/* port, gpa, or SBDF << 32 | reg */
	uint64_t data;	/* value, or gpa of the buffer if data_is_ptr */
	uint32_t count; /* elements (rep) */
	uint32_t size;	/* bytes per element */
	uint8_t type;	/* IOREQ_REQ_* (any value may arrive) */
	bool read;	/* dir == IOREQ_READ */
	bool df;	/* direction flag: elements step downwards */
	bool data_is_ptr;
};

/* Request kinds as the control socket counts them (stats.by_kind). */
enum ioreq_kind {
	IOREQ_KIND_PIO,
	IOREQ_KIND_MMIO, /* IOREQ_TYPE_COPY */
	IOREQ_KIND_PCI_CONFIG,
	IOREQ_KIND_TIMEOFFSET,
	IOREQ_KIND_INVALIDATE,
	IOREQ_KIND_OTHER, /* anything else the guest's ring held */
	_IOREQ_KIND_COUNT,
};

struct ioreq_dispatch_stats {
	uint64_t requests;
	uint64_t by_kind[_IOREQ_KIND_COUNT];
	uint64_t bad_requests; /* bad size/type, PIO size 8, ... */
	uint64_t clamped;      /* rep counts cut to IOREQ_REP_MAX_BYTES */
	uint64_t guest_faults; /* guest RAM not mappable during rep */
	uint64_t invalidates;
};

struct ioreq_dispatch {
	struct bus *bus;
	uint16_t domid; /* for messages */

	/* Guest RAM (0 or -EFAULT); opaque is guest_opaque. */
	void *guest_opaque;
	int (*guest_read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	int (*guest_write)(void *opaque, uint64_t gpa, const void *buf,
			   size_t len);
	/* Drop every cached guest mapping (INVALIDATE). Optional. */
	void (*invalidate)(void *opaque);

	/*
	 * Called before and after the bus accesses of each PIO, COPY or
	 * PCI_CONFIG request (every element of a rep in between), so that
	 * work those accesses trigger can be done once per request (server:
	 * claims of moved BARs).  Optional, both or neither; must be cheap
	 * (begin: no syscall).  opaque is request_opaque.
	 */
	void *request_opaque;
	void (*request_begin)(void *opaque);
	void (*request_end)(void *opaque);

	int64_t time_offset; /* sum of TIMEOFFSET deltas, seconds */
	struct ioreq_dispatch_stats stats;
	struct log_ratelimit ratelimit; /* guest-triggered warnings */
};

/*
 * Perform one request.  For a read with data_is_ptr == 0, req->data holds
 * the answer afterwards (masked to size; all-ones for anything invalid);
 * otherwise req->data is left unchanged.  Never fails, never allocates.
 */
void ioreq_dispatch(struct ioreq_dispatch *d, struct ioreq_request *req);

/* All-ones of `size` bytes, or ~0 for a size that is not 1/2/4/8. */
uint64_t ioreq_size_mask(uint32_t size);

#endif
