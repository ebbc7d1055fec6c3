/*
 * Guest-memory mapping cache: guest memory reached through mappings kept
 * in a small set-associative cache of chunks, so steady-state accesses
 * make no syscall and allocate nothing.  Two ways in (guest.c holds the
 * cache, guest-map.c the ways in):
 *   - copies, ioreq_guest_read/write (the dispatcher's rep requests, the
 *     guest_read/write device services);
 *   - mappings in place, ioreq_guest_map/unmap (the guest_map/unmap
 *     services): a scatter-gather list of host pointers, see
 *     devices/guest-mem.h.
 *
 * Two modes per instance, invisible to devices:
 *   foreign (default)  addresses are guest-physical; chunks are 64 KiB
 *                      (16 pages) mapped with xenforeignmemory_map.
 *   grant              addresses are grant DMA addresses as Linux's
 *                      xen-grant-dma makes them: bit 63 set, the grant
 *                      reference in bits 12-62, the offset in the page in
 *                      bits 0-11; consecutive pages of a range are
 *                      consecutive references.  A chunk is one granted page
 *                      mapped with xengnttab_map_domain_grant_refs,
 *                      read-only unless writing was asked for (the guest
 *                      may grant read-only).  An address without bit 63 or
 *                      a reference beyond 32 bits is -EFAULT.
 *
 * Pins and revocation (the rule devices/guest-mem.h tells devices):
 * ioreq_guest_map pins each chunk it hands out.  A pinned chunk is never
 * unmapped: evicted from the cache or revoked by INVALIDATE, it becomes
 * "doomed" (out of the cache, still mapped) and is unmapped when its last
 * pin goes.  INVALIDATE also bumps the epoch that guest_sg_revoked()
 * compares, so a device holding a mapping across events learns that the
 * guest's memory map changed.  Pins held at once are capped
 * (ioreq_guest_set_max_pins), so a hostile guest cannot make a device pin
 * everything; the cache stays usable for copies whatever is pinned.
 *
 * Unmaps are batched: evicted chunks are queued and unmapped together when
 * the queue is full, at INVALIDATE, or at ioreq_guest_flush (the server
 * calls it after an event's answers are out), keeping munmap off the path
 * between a request and its answer.  Host mappings are therefore bounded
 * by max_chunks cached + IOREQ_GUEST_UNMAP_BATCH queued + doomed chunks
 * (at most the pins held): 4 MiB + 1 MiB + 4 MiB in foreign mode.
 *
 * Threading: the event-loop thread only.
 */
#ifndef IOREQD_IOREQ_GUEST_H
#define IOREQD_IOREQ_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "devices/guest-mem.h"
#include "ioreq/ioreq.h" /* struct ioreq_guest_stats */

#define IOREQ_GUEST_PAGE_SHIFT	12
#define IOREQ_GUEST_CHUNK_SHIFT 16 /* foreign: 64 KiB per chunk, aligned */
#define IOREQ_GUEST_CHUNK_PAGES \
	(1u << (IOREQ_GUEST_CHUNK_SHIFT - IOREQ_GUEST_PAGE_SHIFT))
#define IOREQ_GUEST_SETS	16 /* chunk key % SETS picks the set */
#define IOREQ_GUEST_WAYS	4  /* chunks per set, LRU among them */
#define IOREQ_GUEST_MAX_CHUNKS	(IOREQ_GUEST_SETS * IOREQ_GUEST_WAYS) /* 4 MiB */
#define IOREQ_GUEST_MAX_PINS	64 /* chunk pins held at once, at most */
#define IOREQ_GUEST_UNMAP_BATCH 16 /* evictions queued before a flush */
/* Chunks that can exist: the cache's plus doomed ones (each is pinned). */
#define IOREQ_GUEST_POOL (IOREQ_GUEST_MAX_CHUNKS + IOREQ_GUEST_MAX_PINS)
/* Grant DMA addresses (Linux drivers/xen/grant-dma-ops.c). */
#define IOREQ_GUEST_GRANT_BIT (UINT64_C(1) << 63)

_Static_assert(IOREQ_GUEST_CHUNK_PAGES <= 16, "valid has 16 bits");

enum ioreq_guest_mode {
	IOREQ_GUEST_FOREIGN,
	IOREQ_GUEST_GRANT,
};

struct ioreq_guest_chunk {
	uint64_t key;	   /* foreign: gpa >> CHUNK_SHIFT; grant: ref */
	uint8_t *hva;	   /* NULL: pool entry free */
	uint64_t last_use; /* guest->clock at the last access (LRU) */
	uint16_t valid;	   /* bit i: page i mapped (err[i] == 0) */
	uint16_t pins;	   /* guest_sg segments holding it */
	bool writable;	   /* mapped with PROT_WRITE */
	bool doomed;	   /* out of the cache, unmapped at last unpin */
};

struct ioreq_guest_unmap {
	void *hva;
	unsigned pages;
};

struct ioreq_guest {
	enum ioreq_guest_mode mode;
	xenforeignmemory_handle *fmem; /* borrowed; foreign mode */
	xengnttab_handle *xgt;	       /* borrowed; grant mode */
	uint16_t domid;
	unsigned max_chunks; /* cap on chunks in the cache */
	unsigned mapped;     /* chunks in the cache now */
	unsigned max_pins;   /* cap on pins held */
	unsigned pins;	     /* pins held now */
	uint64_t clock;	     /* access counter for LRU */
	uint64_t epoch;	     /* revocations so far (guest_sg) */
	struct ioreq_guest_chunk pool[IOREQ_GUEST_POOL];
	/* NULL: way empty; else a pool entry, never doomed */
	struct ioreq_guest_chunk *sets[IOREQ_GUEST_SETS][IOREQ_GUEST_WAYS];
	struct ioreq_guest_unmap batch[IOREQ_GUEST_UNMAP_BATCH];
	unsigned batched;
	struct ioreq_guest_stats stats;
};

/*
 * Set up an empty cache in foreign mode over `fmem` (which the caller
 * keeps open; NULL: every access faults), capped at IOREQ_GUEST_MAX_CHUNKS
 * chunks and IOREQ_GUEST_MAX_PINS pins.
 */
void ioreq_guest_init(struct ioreq_guest *guest, xenforeignmemory_handle *fmem,
		      uint16_t domid);
/*
 * Switch to `mode`; grant mode maps through `xgt` (the caller keeps it
 * open), foreign mode ignores it.  Only while nothing is mapped (-EBUSY);
 * -EINVAL for an unknown mode or grant mode without a handle.
 */
int ioreq_guest_set_mode(struct ioreq_guest *guest, enum ioreq_guest_mode mode,
			 xengnttab_handle *xgt);
/*
 * Cap the chunks in the cache to `max_chunks` (1 to
 * IOREQ_GUEST_MAX_CHUNKS, else -EINVAL), evicting least recently used
 * chunks beyond it.  0 or -EINVAL.
 */
int ioreq_guest_set_max_chunks(struct ioreq_guest *guest, unsigned max_chunks);
/*
 * Cap the pins held at once (1 to IOREQ_GUEST_MAX_PINS, else -EINVAL;
 * -EBUSY below the pins held now).
 */
int ioreq_guest_set_max_pins(struct ioreq_guest *guest, unsigned max_pins);
/*
 * The guest's memory map changed: unmap every unpinned chunk now, revoke
 * pinned ones (see above).  The cache stays usable.
 */
void ioreq_guest_invalidate(struct ioreq_guest *guest);
/* Unmap the evicted chunks queued so far. */
void ioreq_guest_flush(struct ioreq_guest *guest);
/*
 * Unmap everything, pinned or not (before closing the handles; devices
 * are gone by then).
 */
void ioreq_guest_fini(struct ioreq_guest *guest);
/* Copy of the counters. */
void ioreq_guest_get_stats(const struct ioreq_guest *guest,
			   struct ioreq_guest_stats *ret_stats);

/*
 * Copy len bytes from / to guest address `addr` (may cross pages and
 * chunks: copied piecewise).  0, or -EFAULT if any page cannot be mapped
 * or the range wraps past 2^64 (nothing is copied past the failing page;
 * earlier pages may have been written).  A page Xen refused stays refused
 * until INVALIDATE or until its chunk is evicted.  No allocation; a hit
 * makes no syscall.
 */
int ioreq_guest_read(struct ioreq_guest *guest, uint64_t addr, void *buf,
		     size_t len);
int ioreq_guest_write(struct ioreq_guest *guest, uint64_t addr, const void *buf,
		      size_t len);

/*
 * Map [addr, addr + len) in place into *sg, writable or read-only; one
 * segment per chunk touched.  0 (len 0: an empty list), -E2BIG (more than
 * GUEST_SG_MAX segments), -EBUSY (pins would exceed the cap), -EFAULT
 * (a page cannot be mapped, or the range wraps); on failure sg is empty
 * and nothing stays pinned.  No allocation; a hit makes no syscall.
 */
int ioreq_guest_map(struct ioreq_guest *guest, uint64_t addr, size_t len,
		    bool writable, struct guest_sg *sg);
/* Release a mapping (unpin its chunks) and empty sg.  Idempotent. */
void ioreq_guest_unmap(struct ioreq_guest *guest, struct guest_sg *sg);

#endif
