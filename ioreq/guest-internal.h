/*
 * Between the two halves of the guest-memory cache: guest.c (chunks,
 * sets, pins, batched unmaps) and guest-map.c (addresses, copies,
 * scatter-gather maps).
 */
#ifndef IOREQD_IOREQ_GUEST_INTERNAL_H
#define IOREQD_IOREQ_GUEST_INTERNAL_H

#include "ioreq/guest.h"

/* Pages in one chunk of this mode: 16 (foreign) or 1 (grant). */
static inline unsigned
ioreq_guest_chunk_pages(const struct ioreq_guest *guest)
{
	return guest->mode == IOREQ_GUEST_GRANT ? 1 : IOREQ_GUEST_CHUNK_PAGES;
}

/*
 * The cached chunk `key`, mapped writable if `writable`: a hit, or a map
 * that evicts what it must.  Counts the hit or miss.  NULL (-EFAULT for
 * the caller) when nothing could be mapped.
 */
struct ioreq_guest_chunk *ioreq_guest_chunk_get(struct ioreq_guest *guest,
						uint64_t key, bool writable);
/* Take / drop one pin; the last pin of a doomed chunk unmaps it. */
void ioreq_guest_chunk_pin(struct ioreq_guest *guest,
			   struct ioreq_guest_chunk *c);
/*
 * Grant mode: unmap every chunk nobody pins, now.  A granted page may be
 * kept only while a device uses it: once the guest ends its grant it may
 * give the same reference to another page, and a cached mapping of the
 * reference would still show the old one.
 */
void ioreq_guest_release_unpinned(struct ioreq_guest *guest);
void ioreq_guest_chunk_unpin(struct ioreq_guest *guest,
			     struct ioreq_guest_chunk *c);

#endif
