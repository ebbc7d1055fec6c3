/*
 * Guest-memory mapping cache, the chunks (see guest.h).  Chunk n (a 64 KiB
 * aligned piece of guest-physical space, or one granted page) lives in set
 * n % 16, in any of the set's 4 ways.  A miss maps just that chunk (a
 * foreign chunk is one xenforeignmemory_map of 16 pages whose err[] marks
 * the pages that exist: a chunk may straddle the end of RAM or a hole) and
 * evicts the set's least recently used chunk when the set is full, or the
 * cache's least recently used one when the cap on cached chunks is
 * reached; unpinned chunks go before pinned ones.
 *
 * Why this shape: the 1 MiB direct-mapped buckets it replaced remapped
 * 256 pages whenever two addresses a multiple of 16 MiB apart were used in
 * turn; small chunks make a miss cheap and the ways let such addresses
 * coexist.  Chunks live in a fixed pool, the sets point into it, so a
 * pinned chunk can leave the sets (doomed) without moving: the pointers a
 * device holds stay valid.  The pool is large enough by construction: at
 * most MAX_CHUNKS chunks are cached and every doomed chunk holds at least
 * one of at most MAX_PINS pins.
 */
#include "ioreq/guest-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void
ioreq_guest_init(struct ioreq_guest *guest, xenforeignmemory_handle *fmem,
		 uint16_t domid)
{
	memset(guest, 0, sizeof(*guest));
	guest->mode = IOREQ_GUEST_FOREIGN;
	guest->fmem = fmem;
	guest->domid = domid;
	guest->max_chunks = IOREQ_GUEST_MAX_CHUNKS;
	guest->max_pins = IOREQ_GUEST_MAX_PINS;
}

static void
backend_unmap(struct ioreq_guest *guest, const struct ioreq_guest_unmap *u)
{
	if (guest->mode == IOREQ_GUEST_GRANT)
		(void)xengnttab_unmap(guest->xgt, u->hva, u->pages);
	else
		(void)xenforeignmemory_unmap(guest->fmem, u->hva, u->pages);
}

void
ioreq_guest_flush(struct ioreq_guest *guest)
{
	if (guest->batched == 0)
		return;
	for (unsigned i = 0; i < guest->batched; i++)
		backend_unmap(guest, &guest->batch[i]);
	guest->stats.unmaps += guest->batched;
	guest->stats.unmap_batches++;
	guest->batched = 0;
}

/* Queue c's mapping for unmapping and free its pool entry. */
static void
chunk_release(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	if (guest->batched == IOREQ_GUEST_UNMAP_BATCH)
		ioreq_guest_flush(guest);
	guest->batch[guest->batched++] = (struct ioreq_guest_unmap){
		.hva = c->hva,
		.pages = ioreq_guest_chunk_pages(guest),
	};
	memset(c, 0, sizeof(*c));
}

/* Take c (cached, not doomed) out of its set. */
static void
set_remove(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	struct ioreq_guest_chunk **set = guest->sets[c->key % IOREQ_GUEST_SETS];

	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
		if (set[w] == c) {
			set[w] = NULL;
			guest->mapped--;
			return;
		}
	}
}

/* Out of the cache: unmapped, or doomed while pinned. */
static void
chunk_evict(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	set_remove(guest, c);
	if (c->pins)
		c->doomed = true;
	else
		chunk_release(guest, c);
}

/* Should a be evicted before b (NULL: a, if any)?  Unpinned first, LRU. */
static bool
evict_before(const struct ioreq_guest_chunk *a,
	     const struct ioreq_guest_chunk *b)
{
	if (!a)
		return false;
	if (!b)
		return true;
	if ((a->pins == 0) != (b->pins == 0))
		return a->pins == 0;
	return a->last_use < b->last_use;
}

/* The cached chunk to evict first from the whole cache, or NULL. */
static struct ioreq_guest_chunk *
cache_victim(struct ioreq_guest *guest)
{
	struct ioreq_guest_chunk *v = NULL;

	for (unsigned s = 0; s < IOREQ_GUEST_SETS; s++)
		for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++)
			if (evict_before(guest->sets[s][w], v))
				v = guest->sets[s][w];
	return v;
}

int
ioreq_guest_set_mode(struct ioreq_guest *guest, enum ioreq_guest_mode mode,
		     xengnttab_handle *xgt)
{
	if (mode != IOREQ_GUEST_FOREIGN && mode != IOREQ_GUEST_GRANT)
		return -EINVAL;
	if (mode == IOREQ_GUEST_GRANT && !xgt)
		return -EINVAL;
	/* queued unmaps go through the mode that mapped them */
	ioreq_guest_flush(guest);
	if (guest->mapped || guest->pins)
		return -EBUSY;
	guest->mode = mode;
	guest->xgt = mode == IOREQ_GUEST_GRANT ? xgt : NULL;
	return 0;
}

int
ioreq_guest_set_max_chunks(struct ioreq_guest *guest, unsigned max_chunks)
{
	if (max_chunks == 0 || max_chunks > IOREQ_GUEST_MAX_CHUNKS)
		return -EINVAL;
	guest->max_chunks = max_chunks;
	while (guest->mapped > max_chunks)
		chunk_evict(guest, cache_victim(guest));
	ioreq_guest_flush(guest);
	return 0;
}

int
ioreq_guest_set_max_pins(struct ioreq_guest *guest, unsigned max_pins)
{
	if (max_pins == 0 || max_pins > IOREQ_GUEST_MAX_PINS)
		return -EINVAL;
	if (max_pins < guest->pins)
		return -EBUSY;
	guest->max_pins = max_pins;
	return 0;
}

void
ioreq_guest_invalidate(struct ioreq_guest *guest)
{
	for (unsigned i = 0; i < IOREQ_GUEST_POOL; i++) {
		struct ioreq_guest_chunk *c = &guest->pool[i];

		if (!c->hva)
			continue;
		if (c->pins)
			guest->stats.revocations++;
		if (!c->doomed)
			chunk_evict(guest, c);
	}
	guest->epoch++;
	ioreq_guest_flush(guest);
}

void
ioreq_guest_fini(struct ioreq_guest *guest)
{
	for (unsigned i = 0; i < IOREQ_GUEST_POOL; i++)
		if (guest->pool[i].hva)
			chunk_release(guest, &guest->pool[i]);
	memset(guest->sets, 0, sizeof(guest->sets));
	guest->mapped = 0;
	guest->pins = 0;
	guest->epoch++;
	ioreq_guest_flush(guest);
}

void
ioreq_guest_get_stats(const struct ioreq_guest *guest,
		      struct ioreq_guest_stats *ret_stats)
{
	*ret_stats = guest->stats;
}

static bool
has_handle(const struct ioreq_guest *guest)
{
	return guest->mode == IOREQ_GUEST_GRANT ? guest->xgt != NULL :
						  guest->fmem != NULL;
}

static struct ioreq_guest_chunk *
chunk_lookup(struct ioreq_guest *guest, uint64_t key, bool writable)
{
	struct ioreq_guest_chunk **set = guest->sets[key % IOREQ_GUEST_SETS];

	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
		struct ioreq_guest_chunk *c = set[w];

		if (c && c->key == key && (c->writable || !writable))
			return c;
	}
	return NULL;
}

/*
 * Map chunk `key`; *ret_valid gets its mapped pages.  Foreign chunks are
 * always mapped writable (the guest cannot make its RAM read-only to us);
 * a grant is mapped only as far as asked, since the guest may have
 * granted it read-only.
 */
static uint8_t *
backend_map(struct ioreq_guest *guest, uint64_t key, bool writable,
	    uint16_t *ret_valid)
{
	xen_pfn_t pfns[IOREQ_GUEST_CHUNK_PAGES];
	int err[IOREQ_GUEST_CHUNK_PAGES];
	uint64_t first = key
			 << (IOREQ_GUEST_CHUNK_SHIFT - IOREQ_GUEST_PAGE_SHIFT);
	uint32_t ref = (uint32_t)key;
	uint8_t *hva;

	if (guest->mode == IOREQ_GUEST_GRANT) {
		*ret_valid = 1;
		return xengnttab_map_domain_grant_refs(
			guest->xgt, 1, guest->domid, &ref,
			PROT_READ | (writable ? PROT_WRITE : 0));
	}
	for (unsigned i = 0; i < IOREQ_GUEST_CHUNK_PAGES; i++) {
		pfns[i] = (xen_pfn_t)(first + i);
		err[i] = 0;
	}
	hva = xenforeignmemory_map(guest->fmem, guest->domid,
				   PROT_READ | PROT_WRITE,
				   IOREQ_GUEST_CHUNK_PAGES, pfns, err);
	*ret_valid = 0;
	for (unsigned i = 0; hva && i < IOREQ_GUEST_CHUNK_PAGES; i++)
		if (err[i] == 0)
			*ret_valid |= (uint16_t)(1u << i);
	return hva;
}

/*
 * An empty way of `set` for a new chunk: a free way while the cap allows;
 * else the set's first victim when the set is full; else (free way, cap
 * reached) the free way after evicting the cache's first victim.
 */
static unsigned
way_for_new(struct ioreq_guest *guest, struct ioreq_guest_chunk **set)
{
	unsigned empty = IOREQ_GUEST_WAYS, victim = 0;

	for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
		if (!set[w]) {
			if (empty == IOREQ_GUEST_WAYS)
				empty = w;
		} else if (evict_before(set[w], set[victim])) {
			victim = w;
		}
	}
	if (empty == IOREQ_GUEST_WAYS) {
		chunk_evict(guest, set[victim]);
		return victim;
	}
	if (guest->mapped >= guest->max_chunks)
		chunk_evict(guest, cache_victim(guest));
	return empty;
}

static struct ioreq_guest_chunk *
pool_free_entry(struct ioreq_guest *guest)
{
	for (unsigned i = 0; i < IOREQ_GUEST_POOL; i++)
		if (!guest->pool[i].hva)
			return &guest->pool[i];
	return NULL;
}

/*
 * Map chunk `key` and put it in its set.  The map comes first so that a
 * refused map evicts nothing.  NULL if nothing was mapped.
 */
static struct ioreq_guest_chunk *
chunk_fill(struct ioreq_guest *guest, uint64_t key, bool writable)
{
	struct ioreq_guest_chunk **set = guest->sets[key % IOREQ_GUEST_SETS];
	struct ioreq_guest_chunk *c;
	uint16_t valid;
	uint8_t *hva;
	unsigned w;

	hva = backend_map(guest, key, writable, &valid);
	if (!hva) {
		guest->stats.map_failures++;
		return NULL;
	}
	guest->stats.maps++;
	w = way_for_new(guest, set);
	c = pool_free_entry(guest);
	if (!c) { /* cannot happen (see the top); stay safe anyway */
		backend_unmap(guest, &(struct ioreq_guest_unmap){
					     .hva = hva,
					     .pages = ioreq_guest_chunk_pages(
						     guest) });
		guest->stats.unmaps++;
		return NULL;
	}
	*c = (struct ioreq_guest_chunk){
		.key = key,
		.hva = hva,
		.valid = valid,
		.writable = guest->mode == IOREQ_GUEST_FOREIGN || writable,
	};
	set[w] = c;
	guest->mapped++;
	return c;
}

struct ioreq_guest_chunk *
ioreq_guest_chunk_get(struct ioreq_guest *guest, uint64_t key, bool writable)
{
	struct ioreq_guest_chunk *c;

	if (!has_handle(guest))
		return NULL;
	c = chunk_lookup(guest, key, writable);
	if (c) {
		guest->stats.hits++;
	} else {
		guest->stats.misses++;
		c = chunk_fill(guest, key, writable);
		if (!c)
			return NULL;
	}
	c->last_use = ++guest->clock;
	return c;
}

void
ioreq_guest_release_unpinned(struct ioreq_guest *guest)
{
	for (unsigned s = 0; s < IOREQ_GUEST_SETS; s++)
		for (unsigned w = 0; w < IOREQ_GUEST_WAYS; w++) {
			struct ioreq_guest_chunk *c = guest->sets[s][w];

			if (c && c->pins == 0)
				chunk_evict(guest, c);
		}
	ioreq_guest_flush(guest);
}

void
ioreq_guest_chunk_pin(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	c->pins++;
	guest->pins++;
	guest->stats.pins++;
}

void
ioreq_guest_chunk_unpin(struct ioreq_guest *guest, struct ioreq_guest_chunk *c)
{
	/* after fini the pool is empty and the pins are gone */
	if (!c->hva || c->pins == 0)
		return;
	c->pins--;
	guest->pins--;
	if (c->pins == 0 && c->doomed)
		chunk_release(guest, c);
}
