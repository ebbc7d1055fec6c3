/*
 * The shared pages of an IOREQ server: the per-vCPU synchronous slots
 * (frame 1, one 32-byte ioreq_t per vCPU) and the buffered ring (frame 0).
 * ring.c is the only code that reads or writes these pages.
 *
 * The pages are plain memory here: the caller (server.c) maps them with
 * xenforeignmemory and supplies a notify callback; unit tests use malloc'd
 * pages and a fake callback.  Threading: the event-loop thread only.
 */
#ifndef IOREQD_IOREQ_RING_H
#define IOREQD_IOREQ_RING_H

#include <stdint.h>

#include "ioreq/dispatch.h"

/* One sync page holds 4096 / 32 slots; Xen 4.17 maps only one page. */
#define IOREQ_RING_MAX_VCPUS 128u

struct ioreq_ring_stats {
	uint64_t sync;	       /* synchronous requests answered */
	uint64_t spurious;     /* events whose slot was not READY */
	uint64_t buffered;     /* buffered entries consumed */
	uint64_t drains;       /* drains that consumed at least one entry */
	uint64_t bad_buffered; /* corrupt ring pointers / torn entries */
};

struct ioreq_ring {
	void *sync_page;     /* shared_iopage_t, 4096 bytes */
	void *buf_page;	     /* buffered_iopage_t, or NULL (no ring) */
	unsigned vcpu_count; /* <= IOREQ_RING_MAX_VCPUS */
	struct ioreq_dispatch *dispatch;
	/*
	 * Kick `vcpu` after its response is published (xenevtchn_notify on
	 * that vCPU's local port).  Returns 0 or -errno.
	 */
	int (*notify)(void *opaque, unsigned vcpu);
	void *opaque;
	struct ioreq_ring_stats stats;
};

/*
 * An event arrived for `vcpu`: drain the buffered ring first (so the
 * guest's write order holds), then, if the vCPU's slot is READY, handle it,
 * publish IORESP_READY and notify.  Returns 1 if a request was answered,
 * 0 for a spurious event (slot not READY, or vcpu out of range), or the
 * notify callback's -errno.
 */
int ioreq_ring_vcpu_event(struct ioreq_ring *ring, unsigned vcpu);

/*
 * Xen's port (in the guest's event-channel space) for `vcpu`'s slot, as
 * Xen wrote it when the server was enabled; 0 if none or out of range.
 */
uint32_t ioreq_ring_vcpu_eport(struct ioreq_ring *ring, unsigned vcpu);

/*
 * Consume buffered entries (no replies).  Work per call is bounded by the
 * ring size, whatever the pointers say.  Returns the entries consumed.
 */
unsigned ioreq_ring_drain(struct ioreq_ring *ring);

#endif
