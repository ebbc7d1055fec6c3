/*
 * Guest-memory mapping cache (see guest.h).  Guest-physical space is cut
 * into aligned 64 KiB chunks; chunk n lives in set n % 16, in any of the
 * set's 4 ways.  A miss maps just that chunk (16 pages, one
 * xenforeignmemory_map whose err[] marks the pages that exist: a chunk may
 * straddle the end of RAM or a hole) and evicts the set's least recently
 * used chunk when the set is full, or the cache's least recently used one
 * when the cap on mapped chunks is reached.
 *
 * Why this shape: the 1 MiB direct-mapped buckets it replaces remapped
 * 256 pages whenever two addresses a multiple of 16 MiB apart were used in
 * turn (one byte of rep I/O cost a 1 MiB map and unmap); small chunks make
 * a miss cheap and the ways let such addresses coexist.  Pages with
 * err != 0 give -EFAULT.  Left out for now: grant mappings.
 */
#include "ioreq/guest.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_SIZE_BYTES (1u << IOREQ_GUEST_PAGE_SHIFT)
#define CHUNK_MASK ((UINT64_C(1) << IOREQ_GUEST_CHUNK_SHIFT) - 1)

void
ioreq_guest_init(struct ioreq_guest *guest, xenforeignmemory_handle *fmem,
		 uint16_t domid)
{
	memset(guest, 0, sizeof(*guest));
	guest->fmem = fmem;
	guest->domid = domid;
	guest->max_chunks = IOREQ_GUEST_MAX_CHUNKS;
}

static void
chunk_unmap(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	if (!c->hva)
		return;
	(void)xenforeignmemory_unmap(guest->fmem, c->hva,
				     IOREQ_GUEST_CHUNK_PAGES);
	c->hva = NULL;
	c->valid = 0;
	guest->mapped--;
	guest->stats.unmaps++;
}

/* The least recently used mapped chunk of the whole cache, or NULL. */
static struct ioreq_guest_chunk *
cache_lru(struct ioreq_guest *guest)
{
	struct ioreq_guest_chunk *lru = NULL;

	for (unsigned s = 0; s < IOREQ_GUEST_SETS; s++) {
		for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
			struct ioreq_guest_chunk *c = &guest->sets[s][w];

			if (c->hva && (!lru || c->last_use < lru->last_use))
				lru = c;
		}
	}
	return lru;
}

int
ioreq_guest_set_max_chunks(struct ioreq_guest *guest, unsigned max_chunks)
{
	if (max_chunks == 0 || max_chunks > IOREQ_GUEST_MAX_CHUNKS)
		return -EINVAL;
	guest->max_chunks = max_chunks;
	while (guest->mapped > max_chunks)
		chunk_unmap(guest, cache_lru(guest));
	return 0;
}

void
ioreq_guest_invalidate(struct ioreq_guest *guest)
{
	for (unsigned s = 0; s < IOREQ_GUEST_SETS; s++)
		for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
			chunk_unmap(guest, &guest->sets[s][w]);
}

void
ioreq_guest_fini(struct ioreq_guest *guest)
{
	if (guest->fmem)
		ioreq_guest_invalidate(guest);
}

void
ioreq_guest_get_stats(const struct ioreq_guest *guest,
		      struct ioreq_guest_stats *ret_stats)
{
	*ret_stats = guest->stats;
}

static struct ioreq_guest_chunk *
chunk_lookup(struct ioreq_guest *guest, uint64_t index)
{
	struct ioreq_guest_chunk *set = guest->sets[index % IOREQ_GUEST_SETS];

	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
		if (set[w].hva && set[w].index == index)
			return &set[w];
	return NULL;
}

/*
 * The way a new chunk of `set` goes into, emptied: a free way while the
 * cap allows, else the set's least recently used way when the set is full,
 * else (free way, cap reached) the free way after evicting the cache's
 * least recently used chunk, so the cap holds.
 */
static struct ioreq_guest_chunk *
chunk_victim(struct ioreq_guest *guest, struct ioreq_guest_chunk *set)
{
	struct ioreq_guest_chunk *empty = NULL, *lru = NULL;

	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
		struct ioreq_guest_chunk *c = &set[w];

		if (!c->hva) {
			if (!empty)
				empty = c;
		} else if (!lru || c->last_use < lru->last_use) {
			lru = c;
		}
	}
	if (!empty) {
		chunk_unmap(guest, lru);
		return lru;
	}
	if (guest->mapped >= guest->max_chunks)
		chunk_unmap(guest, cache_lru(guest));
	return empty;
}

/*
 * Map chunk `index` and put it in its set.  The map comes first so that a
 * refused map evicts nothing.  NULL if Xen mapped nothing.
 */
static struct ioreq_guest_chunk *
chunk_fill(struct ioreq_guest *guest, uint64_t index)
{
	xen_pfn_t pfns[IOREQ_GUEST_CHUNK_PAGES];
	int err[IOREQ_GUEST_CHUNK_PAGES];
	uint64_t first = index << (IOREQ_GUEST_CHUNK_SHIFT -
				   IOREQ_GUEST_PAGE_SHIFT);
	struct ioreq_guest_chunk *c;
	uint8_t *hva;

	for (unsigned i = 0; i < IOREQ_GUEST_CHUNK_PAGES; i++) {
		pfns[i] = (xen_pfn_t)(first + i);
		err[i] = 0;
	}
	hva = xenforeignmemory_map(guest->fmem, guest->domid,
				   PROT_READ | PROT_WRITE,
				   IOREQ_GUEST_CHUNK_PAGES, pfns, err);
	if (!hva) {
		guest->stats.map_failures++;
		return NULL;
	}
	guest->stats.maps++;
	c = chunk_victim(guest, guest->sets[index % IOREQ_GUEST_SETS]);
	c->hva = hva;
	c->index = index;
	c->valid = 0;
	for (unsigned i = 0; i < IOREQ_GUEST_CHUNK_PAGES; i++)
		if (err[i] == 0)
			c->valid |= (uint16_t)(1u << i);
	guest->mapped++;
	return c;
}

/* Host address of gpa's page, or NULL (-EFAULT for the caller). */
static uint8_t *
guest_page(struct ioreq_guest *guest, uint64_t gpa)
{
	uint64_t index = gpa >> IOREQ_GUEST_CHUNK_SHIFT;
	unsigned page = (unsigned)((gpa & CHUNK_MASK) >>
				   IOREQ_GUEST_PAGE_SHIFT);
	struct ioreq_guest_chunk *c;

	if (!guest->fmem)
		return NULL;
	c = chunk_lookup(guest, index);
	if (c) {
		guest->stats.hits++;
	} else {
		guest->stats.misses++;
		c = chunk_fill(guest, index);
		if (!c)
			return NULL;
	}
	c->last_use = ++guest->clock;
	if (!(c->valid & (1u << page)))
		return NULL;
	return c->hva + (gpa & CHUNK_MASK);
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
