/*
 * Guest-memory cache, the ways in (see guest.h): an address of the
 * instance's mode becomes a chunk key and an offset, copies go page by
 * page, maps chunk by chunk into a scatter-gather list.  Every address
 * and length comes from the guest (directly, or through a device that
 * read it from guest memory): ranges that wrap past 2^64, grant addresses
 * without bit 63 or with references beyond 32 bits are refused before
 * anything is mapped.
 */
#include "ioreq/guest-internal.h"

#include <errno.h>
#include <string.h>

#define PAGE_BYTES (1u << IOREQ_GUEST_PAGE_SHIFT)

static unsigned
chunk_shift(const struct ioreq_guest *guest)
{
	return guest->mode == IOREQ_GUEST_GRANT ? IOREQ_GUEST_PAGE_SHIFT :
						  IOREQ_GUEST_CHUNK_SHIFT;
}

/* The chunk key of addr: grant reference, or foreign chunk index. */
static uint64_t
addr_key(const struct ioreq_guest *guest, uint64_t addr)
{
	if (guest->mode == IOREQ_GUEST_GRANT)
		addr &= ~IOREQ_GUEST_GRANT_BIT;
	return addr >> chunk_shift(guest);
}

static size_t
addr_offset(const struct ioreq_guest *guest, uint64_t addr)
{
	return (size_t)(addr & ((UINT64_C(1) << chunk_shift(guest)) - 1));
}

/* Can this mode reach [addr, addr + len), len != 0?  0 or -EFAULT. */
static int
range_check(const struct ioreq_guest *guest, uint64_t addr, size_t len)
{
	uint64_t last;

	if ((uint64_t)len - 1 > UINT64_MAX - addr)
		return -EFAULT;
	last = addr + ((uint64_t)len - 1);
	if (guest->mode != IOREQ_GUEST_GRANT)
		return 0;
	/* bit 63 of addr carries over to last: the range does not wrap */
	if (!(addr & IOREQ_GUEST_GRANT_BIT) ||
	    addr_key(guest, last) > UINT32_MAX)
		return -EFAULT;
	return 0;
}

/* Are the pages of [off, off + n) of chunk c all mapped?  n != 0. */
static bool
pages_valid(const struct ioreq_guest_chunk *c, size_t off, size_t n)
{
	unsigned first = (unsigned)(off >> IOREQ_GUEST_PAGE_SHIFT);
	unsigned last = (unsigned)((off + n - 1) >> IOREQ_GUEST_PAGE_SHIFT);
	unsigned mask = ((2u << last) - 1) & ~((1u << first) - 1);

	return (c->valid & mask) == mask;
}

/* Host address of addr's page, or NULL (-EFAULT for the caller). */
static uint8_t *
guest_page(struct ioreq_guest *guest, uint64_t addr, bool writable)
{
	size_t off = addr_offset(guest, addr);
	struct ioreq_guest_chunk *c;

	c = ioreq_guest_chunk_get(guest, addr_key(guest, addr), writable);
	if (!c || !pages_valid(c, off, 1))
		return NULL;
	return c->hva + off;
}

static int
guest_copy(struct ioreq_guest *guest, uint64_t addr, void *buf, size_t len,
	   bool to_guest)
{
	uint8_t *p = buf;

	if (len == 0)
		return 0;
	if (range_check(guest, addr, len) < 0)
		return -EFAULT;
	while (len > 0) {
		size_t in_page = PAGE_BYTES - (addr & (PAGE_BYTES - 1));
		size_t n = len < in_page ? len : in_page;
		uint8_t *hva = guest_page(guest, addr, to_guest);

		if (!hva)
			return -EFAULT;
		if (to_guest)
			memcpy(hva, p, n);
		else
			memcpy(p, hva, n);
		p += n;
		len -= n;
		addr += n; /* may wrap to 0 after the last page */
	}
	return 0;
}

/* Grant mode keeps no page the device is not using (see the internal
 * header); foreign mode keeps its cache. */
static int
copy_done(struct ioreq_guest *guest, int r)
{
	if (guest->mode == IOREQ_GUEST_GRANT)
		ioreq_guest_release_unpinned(guest);
	return r;
}

int
ioreq_guest_read(struct ioreq_guest *guest, uint64_t addr, void *buf,
		 size_t len)
{
	return copy_done(guest, guest_copy(guest, addr, buf, len, false));
}

int
ioreq_guest_write(struct ioreq_guest *guest, uint64_t addr, const void *buf,
		  size_t len)
{
	return copy_done(guest,
			 guest_copy(guest, addr, (void *)buf, len, true));
}

/* Segments [addr, addr + len) needs: one per chunk.  Range checked. */
static uint64_t
segments_needed(const struct ioreq_guest *guest, uint64_t addr, size_t len)
{
	uint64_t last = addr + ((uint64_t)len - 1);

	return addr_key(guest, last) - addr_key(guest, addr) + 1;
}

static void
sg_start(const struct ioreq_guest *guest, struct guest_sg *sg)
{
	sg->n = 0;
	sg->epoch_now = &guest->epoch;
	sg->epoch = guest->epoch;
}

int
ioreq_guest_map(struct ioreq_guest *guest, uint64_t addr, size_t len,
		bool writable, struct guest_sg *sg)
{
	size_t chunk_bytes = (size_t)1 << chunk_shift(guest);
	int r;

	sg_start(guest, sg);
	if (len == 0)
		return 0;
	r = range_check(guest, addr, len);
	if (r < 0)
		return r;
	if (segments_needed(guest, addr, len) > GUEST_SG_MAX)
		return -E2BIG;
	if (segments_needed(guest, addr, len) > guest->max_pins - guest->pins)
		return -EBUSY;
	while (len > 0) {
		size_t off = addr_offset(guest, addr);
		size_t n = len < chunk_bytes - off ? len : chunk_bytes - off;
		struct ioreq_guest_chunk *c;

		c = ioreq_guest_chunk_get(guest, addr_key(guest, addr),
					  writable);
		if (!c || !pages_valid(c, off, n)) {
			ioreq_guest_unmap(guest, sg);
			return -EFAULT;
		}
		/* pinned at once: the next chunk's map may evict this one */
		ioreq_guest_chunk_pin(guest, c);
		sg->pin[sg->n] = c;
		sg->seg[sg->n] = (struct guest_sg_seg){ c->hva + off, n };
		sg->n++;
		len -= n;
		addr += n; /* may wrap to 0 after the last chunk */
	}
	return 0;
}

void
ioreq_guest_unmap(struct ioreq_guest *guest, struct guest_sg *sg)
{
	for (unsigned i = 0; i < sg->n && i < GUEST_SG_MAX; i++)
		ioreq_guest_chunk_unpin(guest, sg->pin[i]);
	sg->n = 0;
	if (guest->mode == IOREQ_GUEST_GRANT)
		ioreq_guest_release_unpinned(guest);
}
