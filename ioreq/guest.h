/*
 * Guest-memory mapping cache: copies to and from guest RAM through foreign
 * mappings (xenforeignmemory_map), kept in a small set-associative cache of
 * 64 KiB chunks so steady-state accesses make no syscall and allocate
 * nothing.  INVALIDATE requests drop every mapping (ioreq_guest_invalidate).
 *
 * Threading: the libevent thread only.
 */
#ifndef IOREQD_IOREQ_GUEST_H
#define IOREQD_IOREQ_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <xenforeignmemory.h>

#include "ioreq/ioreq.h"	/* struct ioreq_guest_stats */

#define IOREQ_GUEST_PAGE_SHIFT 12
#define IOREQ_GUEST_CHUNK_SHIFT 16	/* 64 KiB per chunk, aligned */
#define IOREQ_GUEST_CHUNK_PAGES \
	(1u << (IOREQ_GUEST_CHUNK_SHIFT - IOREQ_GUEST_PAGE_SHIFT))
#define IOREQ_GUEST_SETS 16		/* chunk index % SETS picks the set */
#define IOREQ_GUEST_WAYS 4		/* chunks per set, LRU among them */
#define IOREQ_GUEST_MAX_CHUNKS (IOREQ_GUEST_SETS * IOREQ_GUEST_WAYS) /* 4 MiB */

struct ioreq_guest_chunk {
	uint64_t index;		/* gpa >> IOREQ_GUEST_CHUNK_SHIFT */
	uint8_t *hva;		/* NULL: way empty */
	uint64_t last_use;	/* guest->clock at the last access (LRU) */
	uint16_t valid;		/* bit i: page i mapped (err[i] == 0) */
};
_Static_assert(IOREQ_GUEST_CHUNK_PAGES <= 16, "valid has 16 bits");

struct ioreq_guest {
	xenforeignmemory_handle *fmem;	/* borrowed */
	uint16_t domid;
	unsigned max_chunks;		/* cap on chunks mapped at once */
	unsigned mapped;		/* chunks mapped now */
	uint64_t clock;			/* access counter for LRU */
	struct ioreq_guest_chunk sets[IOREQ_GUEST_SETS][IOREQ_GUEST_WAYS];
	struct ioreq_guest_stats stats;
};

/*
 * Set up an empty cache over `fmem` (which the caller keeps open), capped
 * at IOREQ_GUEST_MAX_CHUNKS chunks (4 MiB).
 */
void ioreq_guest_init(struct ioreq_guest *guest,
		      xenforeignmemory_handle *fmem, uint16_t domid);
/*
 * Cap the chunks mapped at once to `max_chunks` (1 to
 * IOREQ_GUEST_MAX_CHUNKS, else -EINVAL), unmapping least recently used
 * chunks beyond it.  0 or -EINVAL.
 */
int ioreq_guest_set_max_chunks(struct ioreq_guest *guest, unsigned max_chunks);
/* Unmap everything; the cache stays usable. */
void ioreq_guest_invalidate(struct ioreq_guest *guest);
/* Same as ioreq_guest_invalidate (before closing fmem). */
void ioreq_guest_fini(struct ioreq_guest *guest);
/* Copy of the counters. */
void ioreq_guest_get_stats(const struct ioreq_guest *guest,
			   struct ioreq_guest_stats *ret_stats);

/*
 * Copy len bytes from / to guest-physical gpa (may cross pages and
 * chunks: copied piecewise).  0, or -EFAULT if any page cannot be mapped
 * (nothing is copied past the failing page; earlier pages may have been
 * written).  A page Xen refused stays refused until INVALIDATE or until
 * its chunk is evicted.  No allocation; a hit makes no syscall.
 */
int ioreq_guest_read(struct ioreq_guest *guest, uint64_t gpa, void *buf,
		     size_t len);
int ioreq_guest_write(struct ioreq_guest *guest, uint64_t gpa,
		      const void *buf, size_t len);

#endif
