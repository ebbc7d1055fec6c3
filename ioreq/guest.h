/*
 * Guest-memory mapping cache: copies to and from guest RAM through foreign
 * mappings (xenforeignmemory_map), kept in a small direct-mapped cache of
 * 1 MiB buckets so steady-state accesses make no syscall and allocate
 * nothing.  INVALIDATE requests drop every mapping (ioreq_guest_invalidate).
 *
 * Threading: the libevent thread only.
 */
#ifndef IOREQD_IOREQ_GUEST_H
#define IOREQD_IOREQ_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <xenforeignmemory.h>

#define IOREQ_GUEST_PAGE_SHIFT 12
#define IOREQ_GUEST_BUCKET_SHIFT 20	/* 1 MiB per bucket */
#define IOREQ_GUEST_BUCKET_PAGES \
	(1u << (IOREQ_GUEST_BUCKET_SHIFT - IOREQ_GUEST_PAGE_SHIFT))
#define IOREQ_GUEST_BUCKETS 16		/* 16 MiB mapped at most */

struct ioreq_guest_bucket {
	uint64_t index;		/* gpa >> IOREQ_GUEST_BUCKET_SHIFT */
	uint8_t *hva;		/* NULL: bucket empty */
	/* one bit per page: mapped successfully (err[i] == 0) */
	uint64_t valid[IOREQ_GUEST_BUCKET_PAGES / 64];
};

struct ioreq_guest {
	xenforeignmemory_handle *fmem;	/* borrowed */
	uint16_t domid;
	struct ioreq_guest_bucket buckets[IOREQ_GUEST_BUCKETS];
	uint64_t maps;			/* bucket (re)mappings, for stats */
};

/* Set up an empty cache over `fmem` (which the caller keeps open). */
void ioreq_guest_init(struct ioreq_guest *guest,
		      xenforeignmemory_handle *fmem, uint16_t domid);
/* Unmap everything; the cache stays usable. */
void ioreq_guest_invalidate(struct ioreq_guest *guest);
/* Same as ioreq_guest_invalidate (before closing fmem). */
void ioreq_guest_fini(struct ioreq_guest *guest);

/*
 * Copy len bytes from / to guest-physical gpa (may cross pages and
 * buckets).  0, or -EFAULT if any page is not mapped (nothing is copied
 * past the failing page; earlier pages may have been written).
 */
int ioreq_guest_read(struct ioreq_guest *guest, uint64_t gpa, void *buf,
		     size_t len);
int ioreq_guest_write(struct ioreq_guest *guest, uint64_t gpa,
		      const void *buf, size_t len);

#endif
