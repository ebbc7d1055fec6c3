/*
 * Guest memory as devices see it when they map it in place (the
 * guest_map / guest_unmap services of devices/device.h) rather than copy
 * it: a bounded scatter-gather list of host pointers, and the ordered
 * loads and stores a device needs on memory it shares with a running
 * guest (ring indices of virtqueues and the like).  Xen-free.
 *
 * Lifetime of a mapping (the core's rule, see ioreq/guest.h):
 *   - guest_map pins what it maps; the pointers stay valid, whatever else
 *     the core maps or evicts, until guest_unmap.  Pins are a bounded
 *     resource (-EBUSY when they run out), so a device releases a mapping
 *     before it returns to the event loop...
 *   - ...unless it keeps the mapping on purpose (a ring it polls).  Then
 *     it checks guest_sg_revoked() before every use after returning to
 *     the loop: true once the guest's memory map changed (Xen's
 *     INVALIDATE), after which the pointers still reach host memory that
 *     is safe to touch but is no longer the guest's; the device unmaps
 *     and maps again.
 *   - guest_unmap of an empty (zeroed) or already unmapped list does
 *     nothing.
 *
 * Everything the guest wrote is hostile: a value loaded from a mapping
 * is checked before it is used, and loaded once (the guest may change it
 * between two loads).
 */
#ifndef IOREQD_DEVICES_GUEST_MEM_H
#define IOREQD_DEVICES_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segments one mapping may need; more and guest_map fails with -E2BIG. */
#define GUEST_SG_MAX 16

struct guest_sg_seg {
	void *hva;  /* host address of the segment's first byte */
	size_t len; /* bytes, never 0 */
};

/*
 * Filled by guest_map: seg[0..n) cover the guest range in order.  The
 * members after seg belong to the core (which pins and epoch); devices
 * only read n and seg.
 */
struct guest_sg {
	unsigned n;
	struct guest_sg_seg seg[GUEST_SG_MAX];

	const uint64_t *epoch_now; /* the core's revocation counter */
	uint64_t epoch;		   /* its value when mapped */
	void *pin[GUEST_SG_MAX];   /* the core's handle per segment */
};

/* Has the core revoked this (still held) mapping?  See above. */
static inline bool
guest_sg_revoked(const struct guest_sg *sg)
{
	return sg->n != 0 && sg->epoch_now && *sg->epoch_now != sg->epoch;
}

/*
 * Is hva aligned to `size` (a power of two)?  The accessors below need
 * natural alignment; a guest chooses the address, so a device checks it
 * (virtio, for one, requires aligned rings) before it uses them.
 */
static inline bool
guest_mem_aligned(const void *hva, size_t size)
{
	return ((uintptr_t)hva & (size - 1)) == 0;
}

/*
 * Loads with acquire order: nothing the device reads afterwards (the
 * ring entries an index announces) is read before the index.
 */
static inline uint16_t
guest_load_acquire_u16(const void *hva)
{
	return __atomic_load_n((const uint16_t *)hva, __ATOMIC_ACQUIRE);
}

static inline uint32_t
guest_load_acquire_u32(const void *hva)
{
	return __atomic_load_n((const uint32_t *)hva, __ATOMIC_ACQUIRE);
}

/*
 * Stores with release order: everything the device wrote before (the used
 * entries) is visible to the guest before the new index.
 */
static inline void
guest_store_release_u16(void *hva, uint16_t v)
{
	__atomic_store_n((uint16_t *)hva, v, __ATOMIC_RELEASE);
}

static inline void
guest_store_release_u32(void *hva, uint32_t v)
{
	__atomic_store_n((uint32_t *)hva, v, __ATOMIC_RELEASE);
}

/*
 * Full barrier, for a store that must be visible before a later load is
 * made (publish an index, then read whether the guest wants an interrupt):
 * acquire and release alone do not order a store before a load.
 */
static inline void
guest_mem_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#endif
