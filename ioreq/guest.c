/*
 * Guest-memory mapping cache (see guest.h).  Buckets of 1 MiB of
 * guest-physical space, direct-mapped by bucket number; a miss unmaps the
 * bucket's previous tenant and maps the whole MiB with one
 * xenforeignmemory_map call whose err[] marks the pages that exist (a
 * bucket may straddle the end of RAM or a hole).  Pages with err != 0 give
 * -EFAULT.  Left out for now: grant mappings, partial remaps of a bucket.
 */
#include "ioreq/guest.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_SIZE_BYTES (1u << IOREQ_GUEST_PAGE_SHIFT)
#define BUCKET_MASK ((UINT64_C(1) << IOREQ_GUEST_BUCKET_SHIFT) - 1)

void
ioreq_guest_init(struct ioreq_guest *guest, xenforeignmemory_handle *fmem,
		 uint16_t domid)
{
	memset(guest, 0, sizeof(*guest));
	guest->fmem = fmem;
	guest->domid = domid;
}

static void
bucket_unmap(struct ioreq_guest *guest, struct ioreq_guest_bucket *b)
{
	if (b->hva)
		(void)xenforeignmemory_unmap(guest->fmem, b->hva,
					     IOREQ_GUEST_BUCKET_PAGES);
	b->hva = NULL;
	memset(b->valid, 0, sizeof(b->valid));
}

void
ioreq_guest_invalidate(struct ioreq_guest *guest)
{
	for (unsigned i = 0; i < IOREQ_GUEST_BUCKETS; i++)
		bucket_unmap(guest, &guest->buckets[i]);
}

void
ioreq_guest_fini(struct ioreq_guest *guest)
{
	if (guest->fmem)
		ioreq_guest_invalidate(guest);
}

static int
bucket_map(struct ioreq_guest *guest, struct ioreq_guest_bucket *b,
	   uint64_t index)
{
	xen_pfn_t pfns[IOREQ_GUEST_BUCKET_PAGES];
	int err[IOREQ_GUEST_BUCKET_PAGES];
	uint64_t first = index << (IOREQ_GUEST_BUCKET_SHIFT -
				   IOREQ_GUEST_PAGE_SHIFT);
	void *hva;

	bucket_unmap(guest, b);
	for (unsigned i = 0; i < IOREQ_GUEST_BUCKET_PAGES; i++) {
		pfns[i] = (xen_pfn_t)(first + i);
		err[i] = 0;
	}
	hva = xenforeignmemory_map(guest->fmem, guest->domid,
				   PROT_READ | PROT_WRITE,
				   IOREQ_GUEST_BUCKET_PAGES, pfns, err);
	if (!hva)
		return -EFAULT;
	guest->maps++;
	b->hva = hva;
	b->index = index;
	for (unsigned i = 0; i < IOREQ_GUEST_BUCKET_PAGES; i++)
		if (err[i] == 0)
			b->valid[i / 64] |= UINT64_C(1) << (i % 64);
	return 0;
}

/* Host address of gpa's page, or NULL (-EFAULT for the caller). */
static uint8_t *
guest_page(struct ioreq_guest *guest, uint64_t gpa)
{
	uint64_t index = gpa >> IOREQ_GUEST_BUCKET_SHIFT;
	struct ioreq_guest_bucket *b =
		&guest->buckets[index % IOREQ_GUEST_BUCKETS];
	unsigned page = (unsigned)((gpa & BUCKET_MASK) >>
				   IOREQ_GUEST_PAGE_SHIFT);

	if (!guest->fmem)
		return NULL;
	if ((!b->hva || b->index != index) && bucket_map(guest, b, index) < 0)
		return NULL;
	if (!(b->valid[page / 64] & (UINT64_C(1) << (page % 64))))
		return NULL;
	return b->hva + (gpa & BUCKET_MASK);
}

static int
guest_copy(struct ioreq_guest *guest, uint64_t gpa, void *buf, size_t len,
	   bool to_guest)
{
	uint8_t *p = buf;

	while (len > 0) {
		size_t in_page = PAGE_SIZE_BYTES - (gpa & (PAGE_SIZE_BYTES - 1));
		size_t n = len < in_page ? len : in_page;
		uint8_t *hva = guest_page(guest, gpa);

		if (!hva)
			return -EFAULT;
		if (to_guest)
			memcpy(hva, p, n);
		else
			memcpy(p, hva, n);
		p += n;
		len -= n;
		gpa += n;
	}
	return 0;
}

int
ioreq_guest_read(struct ioreq_guest *guest, uint64_t gpa, void *buf,
		 size_t len)
{
	return guest_copy(guest, gpa, buf, len, false);
}

int
ioreq_guest_write(struct ioreq_guest *guest, uint64_t gpa, const void *buf,
		  size_t len)
{
	return guest_copy(guest, gpa, (void *)buf, len, true);
}
