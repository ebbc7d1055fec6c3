/*
 * The shared IOREQ pages (Xen 4.17 public/hvm/ioreq.h; the
 * producer side is ioreq_send and ioreq_send_buffered in xen/common/ioreq.c): the only file that
 * touches them.
 *
 * Synchronous slot, per vCPU (Xen writes the body, then state = READY with a
 * barrier, then kicks the vCPU's event channel):
 *   READY --(acquire load)--> INPROCESS --> handle --> data --> IORESP_READY
 *   (release store) --> notify that vCPU's port.  Xen sets NONE itself.
 * state shares byte 30 with data_is_ptr/dir/df, so every store keeps the
 * other bits.  We never write vp_eport and never go backwards: Xen crashes
 * the domain for either.  An event whose slot is not READY is spurious
 * (every bind raises one) and is ignored.
 *
 * Buffered ring, 4096 bytes:
 *   +0  read_pointer (ours)   +4  write_pointer (Xen's)
 *   +8  511 entries of 8 bytes, index = pointer % 511:
 *       word 0: type:8 | pad:1 | dir:1 | size code:2 | addr:20
 *       word 1: data (for size code 3 the next entry holds the high half)
 * In ATOMIC mode Xen subtracts n*511 from both pointers with a cmpxchg, so
 * read_pointer is re-read after write_pointer and advanced only with an
 * atomic add.  Entries are write-only requests and get no reply.
 *
 * The pages can be written by a buggy or hostile peer: every value read is
 * treated as untrusted and the work per call is bounded.
 */
#include "ioreq/ring.h"

#include <stddef.h>
#include <xen/hvm/ioreq.h>

_Static_assert(sizeof(struct ioreq) == 32, "ioreq_t layout");
_Static_assert(offsetof(struct ioreq, type) == 31, "ioreq_t layout");
_Static_assert(sizeof(struct buffered_iopage) <= 4096, "buffered page");
_Static_assert(sizeof(struct buf_ioreq) == 8, "buf_ioreq_t layout");

/* The bit-field byte of ioreq_t: state:4, data_is_ptr:1, dir:1, df:1. */
#define SLOT_FLAGS_OFFSET 30
#define SLOT_STATE_MASK	  0x0fu
#define SLOT_DATA_IS_PTR  0x10u
#define SLOT_DIR_READ	  0x20u
#define SLOT_DF		  0x40u

/* Re-reads of the pointer pair before giving up on this event. */
#define RING_POINTER_RETRIES 8

static struct ioreq *
ring_slot(struct ioreq_ring *ring, unsigned vcpu)
{
	return (struct ioreq *)ring->sync_page + vcpu;
}

static uint8_t *
slot_flags(struct ioreq *slot)
{
	return (uint8_t *)slot + SLOT_FLAGS_OFFSET;
}

static void
slot_decode(struct ioreq *slot, uint8_t flags, struct ioreq_request *req)
{
	/* Each field is read exactly once: the page is shared. */
	req->addr = __atomic_load_n(&slot->addr, __ATOMIC_RELAXED);
	req->data = __atomic_load_n(&slot->data, __ATOMIC_RELAXED);
	req->count = __atomic_load_n(&slot->count, __ATOMIC_RELAXED);
	req->size = __atomic_load_n(&slot->size, __ATOMIC_RELAXED);
	req->type = __atomic_load_n(&slot->type, __ATOMIC_RELAXED);
	req->data_is_ptr = flags & SLOT_DATA_IS_PTR;
	req->read = flags & SLOT_DIR_READ;
	req->df = flags & SLOT_DF;
}

static void
slot_set_state(struct ioreq *slot, uint8_t flags, uint8_t state, int order)
{
	uint8_t byte = (uint8_t)((flags & ~SLOT_STATE_MASK) | state);

	__atomic_store_n(slot_flags(slot), byte, order);
}

uint32_t
ioreq_ring_vcpu_eport(struct ioreq_ring *ring, unsigned vcpu)
{
	if (vcpu >= ring->vcpu_count || vcpu >= IOREQ_RING_MAX_VCPUS)
		return 0;
	return __atomic_load_n(&ring_slot(ring, vcpu)->vp_eport,
			       __ATOMIC_ACQUIRE);
}

int
ioreq_ring_vcpu_event(struct ioreq_ring *ring, unsigned vcpu)
{
	struct ioreq_request req;
	struct ioreq *slot;
	uint8_t flags;

	(void)ioreq_ring_drain(ring);
	if (vcpu >= ring->vcpu_count || vcpu >= IOREQ_RING_MAX_VCPUS) {
		ring->stats.spurious++;
		return 0;
	}
	slot = ring_slot(ring, vcpu);
	flags = __atomic_load_n(slot_flags(slot), __ATOMIC_ACQUIRE);
	if ((flags & SLOT_STATE_MASK) != STATE_IOREQ_READY) {
		ring->stats.spurious++;
		return 0;
	}
	slot_set_state(slot, flags, STATE_IOREQ_INPROCESS, __ATOMIC_RELAXED);
	slot_decode(slot, flags, &req);

	ioreq_dispatch(ring->dispatch, &req);

	if (req.read && !req.data_is_ptr)
		__atomic_store_n(&slot->data, req.data, __ATOMIC_RELAXED);
	/* data must be visible before the state says so. */
	slot_set_state(slot, flags, STATE_IORESP_READY, __ATOMIC_RELEASE);
	ring->stats.sync++;
	if (ring->notify) {
		int r = ring->notify(ring->opaque, vcpu);

		if (r < 0)
			return r;
	}
	return 1;
}

/*
 * Read a consistent (rp, wp) pair: rp is re-read after wp because Xen may
 * have canonicalised both in between.  false if it never settled.
 */
static bool
ring_pointers(struct buffered_iopage *pg, uint32_t *ret_rp, uint32_t *ret_wp)
{
	for (unsigned i = 0; i < RING_POINTER_RETRIES; i++) {
		uint32_t rp = __atomic_load_n(&pg->read_pointer,
					      __ATOMIC_ACQUIRE);
		uint32_t wp = __atomic_load_n(&pg->write_pointer,
					      __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE) ==
		    rp) {
			*ret_rp = rp;
			*ret_wp = wp;
			return true;
		}
	}
	return false;
}

static void
ring_entry(struct buffered_iopage *pg, uint32_t ptr, uint32_t *ret_word,
	   uint32_t *ret_data)
{
	uint32_t *entry =
		(uint32_t *)&pg->buf_ioreq[ptr % IOREQ_BUFFER_SLOT_NUM];

	*ret_word = __atomic_load_n(&entry[0], __ATOMIC_RELAXED);
	*ret_data = __atomic_load_n(&entry[1], __ATOMIC_RELAXED);
}

static void
ring_bad(struct ioreq_ring *ring, const char *why, uint32_t rp, uint32_t wp)
{
	struct ioreq_dispatch *d = ring->dispatch;

	ring->stats.bad_buffered++;
	log_ratelimited(
		&d->ratelimit, LOG_LEVEL_WARNING,
		"domain %u: buffered ioreq ring %s (read %u, write %u), "
		"ignoring",
		(unsigned)d->domid, why, (unsigned)rp, (unsigned)wp);
}

/*
 * Consume the entry at rp (avail entries are published).  Returns the
 * slots used (1 or 2), or 0 if the entry is torn (8 bytes, one slot).
 */
static unsigned
ring_consume_one(struct ioreq_ring *ring, struct buffered_iopage *pg,
		 uint32_t rp, uint32_t avail)
{
	struct ioreq_request req = { .count = 1 };
	uint32_t word, lo, hi, unused;
	unsigned slots = 1;

	ring_entry(pg, rp, &word, &lo);
	req.type = (uint8_t)(word & 0xff);
	req.read = (word >> 9) & 1;
	req.size = 1u << ((word >> 10) & 3);
	req.addr = word >> 12;
	req.data = lo;
	if (req.size == 8) {
		if (avail < 2)
			return 0;
		ring_entry(pg, rp + 1, &unused, &hi);
		req.data |= (uint64_t)hi << 32;
		slots = 2;
	}
	/* A buffered read can never be answered: drop it, do not perform it. */
	if (req.read)
		ring->stats.bad_buffered++;
	else
		ioreq_dispatch(ring->dispatch, &req);
	return slots;
}

unsigned
ioreq_ring_drain(struct ioreq_ring *ring)
{
	struct buffered_iopage *pg = ring->buf_page;
	unsigned done = 0;

	if (!pg)
		return 0;
	/* A legitimate ring never holds more than 511 slots: bound the work. */
	while (done < IOREQ_BUFFER_SLOT_NUM) {
		uint32_t rp, wp, avail;
		unsigned slots;

		if (!ring_pointers(pg, &rp, &wp)) {
			ring_bad(ring, "pointers unstable", 0, 0);
			break;
		}
		avail = wp - rp;
		if (avail == 0)
			break;
		if (avail > IOREQ_BUFFER_SLOT_NUM) {
			ring_bad(ring, "pointers out of range", rp, wp);
			break;
		}
		slots = ring_consume_one(ring, pg, rp, avail);
		if (slots == 0) {
			ring_bad(ring, "has a torn 8-byte entry", rp, wp);
			break;
		}
		/* Never store rp + n: Xen may have reduced rp meanwhile. */
		__atomic_fetch_add(&pg->read_pointer, slots, __ATOMIC_RELEASE);
		ring->stats.buffered++;
		done += slots;
	}
	if (done)
		ring->stats.drains++;
	return done;
}
